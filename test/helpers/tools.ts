/**
 * External tools the suite runs as independent peers (SIPp, swaks, ffmpeg, PostgreSQL). A test
 * that needs one is declared with `testWith(tool)`: with the tool present it is an ordinary test;
 * without it the test fails under CI (CI installs every tool, so a missing one is a broken CI, not
 * a pass) and elsewhere is skipped, with the install hint printed once per tool.
 */
import test, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';

export type Tool = 'sipp' | 'swaks' | 'ffmpeg' | 'postgres';

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
};

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined;
}

const known = new Map<Tool, boolean>();
/** Whether `tool` is usable here (probed once per test process). */
export function toolAvailable(tool: Tool): boolean {
  let ok = known.get(tool);
  if (ok === undefined) {
    ok = probes[tool].available();
    known.set(tool, ok);
    if (!ok) console.warn(`${process.env.CI ? 'FAILING' : 'skipping'} tests that need ${tool}: ${probes[tool].hint}`);
  }
  return ok;
}

/**
 * `test` when `tool` is there; a failing test under CI and `test.skip` elsewhere when it is not.
 * Use it as `testWith(tool)(title, fn)` or `testWith(tool).serial(title, fn)`.
 */
export function testWith(tool: Tool): TestFn {
  if (toolAvailable(tool)) return test;
  if (!process.env.CI) return test.skip as unknown as TestFn;
  const fail = (register: typeof test | typeof test.serial) => (title: string) =>
    register(title, (t) => t.fail(`${probes[tool].hint}; CI must run this test`));
  return Object.assign(fail(test), { serial: fail(test.serial) }) as unknown as TestFn;
}
