/**
 * `sip.sourceAddress` and `sip.pathMtu` (RFC 3261 18.1.1): documented in iwf.example.yaml, read
 * once, and a source address this host does not have refused at start (exit 2), not at the first
 * TCP request.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { localAddresses } from '../../clients/http-fetch.js';
import { buildConfig, ConfigError } from '../../worker/config.js';
import type { Obj } from '../../worker/config-schema.js';

const example = fileURLToPath(new URL('../../iwf.example.yaml', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
/** 203.0.113.0/24 is TEST-NET-3 (RFC 5737): never an address of this host. */
const FOREIGN = '203.0.113.7';

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

test('the example documents sip.sourceAddress and sip.pathMtu (commented out, with their defaults)', (t) => {
  const text = readFileSync(example, 'utf8');
  const defaults = buildConfig(parse(text) as Obj, {});
  t.is(defaults.sip.sourceAddress, undefined);
  t.is(defaults.sip.pathMtu, undefined);
  // Uncommented, the documented lines are valid and mean what they say.
  const uncommented = text.replace(/^ {2}# (sourceAddress|pathMtu):/gm, '  $1:');
  t.not(uncommented, text);
  const c = buildConfig(parse(uncommented) as Obj, {});
  t.is(c.sip.sourceAddress, '127.0.0.1');
  t.is(c.sip.pathMtu, 1500);
});

test('a source address of this host is taken: loopback (all of 127/8, ::1) and interface addresses', (t) => {
  for (const ip of ['127.0.0.31', '::1', ...localAddresses().filter((a) => !a.startsWith('fe80:'))])
    t.is(buildConfig({ sip: { sourceAddress: ip } }, {}).sip.sourceAddress, ip, ip);
});

test('a source address this host does not have is a ConfigError naming the key', (t) => {
  t.false(localAddresses().includes(FOREIGN));
  const p = problems(() => buildConfig({ sip: { sourceAddress: FOREIGN } }, {}));
  t.is(p.length, 1);
  t.regex(p[0], /^sip\.sourceAddress: '203\.0\.113\.7' is not an address of this host/);
  t.deepEqual(
    problems(() => buildConfig({ sip: { sourceAddress: 'ims-core.example' } }, {})),
    ["sip.sourceAddress: must be an IP address, got 'ims-core.example'"],
  );
  t.true(problems(() => buildConfig({ sip: { pathMtu: 100 } }, {}))[0]?.startsWith('sip.pathMtu'));
});

test('npm start exits 2 with the key named when sip.sourceAddress is not local', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-source-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'iwf.yaml');
  writeFileSync(file, `dataDir: ${dir}\nsip:\n  sourceAddress: ${FOREIGN}\n`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'worker/main.ts', '--config', file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  t.is(run.status, 2, run.stderr);
  t.regex(run.stderr, /sip\.sourceAddress: '203\.0\.113\.7' is not an address of this host/);
});
