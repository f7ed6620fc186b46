/**
 * External tools the suite runs as independent peers (SIPp, swaks, ffmpeg, PostgreSQL, Kamailio,
 * liblinphone, baresip). A test that needs some is declared with `testWith(...tools)`: with the tool present it is an ordinary test;
 * without it the test fails under CI (CI installs every tool, so a missing one is a broken CI, not
 * a pass) and elsewhere is skipped, with the install hint printed once per tool.
 */
import test, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Tool =
  'sipp' | 'swaks' | 'ffmpeg' | 'postgres' | 'kamailio' | 'linphone' | 'baresip' | 'strace' | 'openssl' | 'weed';

const probes: Record<Tool, { available: () => boolean; hint: string }> = {
  sipp: {
    available: () => runs('sipp', ['-v']),
    hint: 'sipp is not installed (Debian package sip-tester: apt-get install sip-tester)',
  },
  swaks: { available: () => runs('swaks', ['--version']), hint: 'swaks is not installed (apt-get install swaks)' },
  ffmpeg: { available: () => runs('ffmpeg', ['-version']), hint: 'ffmpeg is not installed (apt-get install ffmpeg)' },
  postgres: {
    available: () => Boolean(process.env.IWF_TEST_POSTGRES_URL),
    hint: 'IWF_TEST_POSTGRES_URL does not name a PostgreSQL database (postgres://user:pass@127.0.0.1:5432/db)',
  },
  kamailio: {
    available: () => exits0('kamailio', ['-v']),
    hint: 'kamailio is not installed (apt-get install kamailio)',
  },
  // The driver test/peers/linphone-driver.c is compiled on first use (test/helpers/linphone.ts).
  linphone: {
    available: () => exits0('gcc', ['--version']) && exits0('pkg-config', ['--exists', 'linphone']),
    hint: 'the liblinphone driver cannot be built (apt-get install gcc pkg-config liblinphone-dev)',
  },
  // `baresip -h` prints its usage and exits at once (with status 254): only whether it runs counts.
  baresip: {
    available: () => runs('baresip', ['-h']),
    hint: 'baresip is not installed (apt-get install baresip-core)',
  },
  // Test certificates (test/helpers/certs.ts) are made with the openssl CLI.
  openssl: {
    available: () => exits0('openssl', ['version']),
    hint: 'openssl is not installed (apt-get install openssl)',
  },
  // SeaweedFS, the S3-compatible server of the media-store tests (test/helpers/seaweedfs.ts).
  weed: {
    available: () => exits0(weedBinary(), ['version']),
    hint: 'weed (SeaweedFS) is not built (scripts/provision-seaweedfs.sh builds it into .tools/; needs go)',
  },
  // Tracing a child needs ptrace, which some containers forbid.
  strace: {
    available: () => exits0('strace', ['-f', '-o', '/dev/null', 'true']),
    hint: 'strace is not installed or cannot trace here (apt-get install strace; ptrace allowed)',
  },
};

/** The `weed` binary: the one scripts/provision-seaweedfs.sh built into .tools/, else PATH's. */
export function weedBinary(): string {
  const local = fileURLToPath(new URL('../../.tools/weed', import.meta.url));
  return existsSync(local) ? local : 'weed';
}

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined;
}

function exits0(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Whether this run is CI's: `CI` set to anything but an explicit no (CI=false, CI=0). */
export const inCi = () => !!process.env.CI && !/^(0|false|no)$/i.test(process.env.CI);

const known = new Map<Tool, boolean>();
/** Whether `tool` is usable here (probed once per test process). */
export function toolAvailable(tool: Tool): boolean {
  let ok = known.get(tool);
  if (ok === undefined) {
    ok = probes[tool].available();
    known.set(tool, ok);
    if (!ok) console.warn(`${inCi() ? 'FAILING' : 'skipping'} tests that need ${tool}: ${probes[tool].hint}`);
  }
  return ok;
}

/** Whether every one of `tools` is usable here. */
export function toolsAvailable(...tools: Tool[]): boolean {
  return tools.map(toolAvailable).every(Boolean);
}

/**
 * `test` when every one of `tools` is there; a failing test under CI and `test.skip` elsewhere
 * when one is not. Use it as `testWith(...tools)(title, fn)` or `testWith(...tools).serial(title, fn)`.
 */
export function testWith(...tools: [Tool, ...Tool[]]): TestFn {
  const missing = tools.filter((tool) => !toolAvailable(tool));
  if (missing.length === 0) return test;
  if (!inCi()) return Object.assign(test.skip, { serial: test.serial.skip }) as unknown as TestFn;
  const why = missing.map((tool) => probes[tool].hint).join('; ');
  const fail = (register: typeof test | typeof test.serial) => (title: string) =>
    register(title, (t) => t.fail(`${why}; CI must run this test`));
  return Object.assign(fail(test), { serial: fail(test.serial) }) as unknown as TestFn;
}
