/**
 * SIPp (Debian sip-tester) as an independent SIP peer in tests. Every run is bounded three ways:
 * SIPp's own `-timeout ... -timeout_error`, a SIGKILL a few seconds after that, and a SIGKILL when
 * the test process exits (an ava timeout), so a test never hangs on it or leaves it behind.
 */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export const SIPP_DIR = fileURLToPath(new URL('../sipp/', import.meta.url));

/** A copy of a scenario with its `SIP/2.0 202 Accepted` status line replaced. */
export function scenarioWithStatus(name: string, statusLine: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const file = join(dir, name);
  writeFileSync(
    file,
    readFileSync(join(SIPP_DIR, name), 'utf8').replace('SIP/2.0 202 Accepted', `SIP/2.0 ${statusLine}`),
  );
  return file;
}

export interface SippOptions {
  /** A path, or a file name in test/sipp/. */
  scenario: string;
  /** `-t u1` or `-t t1`; default udp. */
  transport?: 'udp' | 'tcp';
  /** `-i`; default 127.0.0.1. */
  localIp?: string;
  /** `-p`; default a free port. */
  localPort?: number;
  /** The peer, `host:port` (UAC scenarios). */
  remote?: string;
  /** `-s`, the [service] keyword. */
  service?: string;
  /** Global scenario variables (`-set name value`), e.g. `{ status: '480' }` for uas-message.xml. */
  set?: Record<string, string>;
  /** `-m`; default 1. */
  calls?: number;
  /** SIPp's own `-timeout`; default 30 s. */
  timeoutSeconds?: number;
  /** More SIPp arguments. */
  args?: string[];
}

export interface SippResult {
  /** Exit code: 0 when every call succeeded; null when killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `-trace_msg` log: every message SIPp sent and received. */
  messages: string;
  /** The `-trace_err` log: unexpected messages and scenario failures. */
  errors: string;
}

export interface SippRun {
  /** The local port SIPp listens on (where a UAS scenario is reached). */
  port: number;
  done: Promise<SippResult>;
  kill(): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((c) => c.kill('SIGKILL')));

const readIf = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const tail = (s: string) => s.slice(-65_536);

function spawnSipp(scenario: string, args: string[], timeoutSeconds: number): Omit<SippRun, 'port'> {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-run-'));
  const messageFile = join(dir, 'messages.log');
  const errorFile = join(dir, 'errors.log');
  const path = isAbsolute(scenario) ? scenario : join(SIPP_DIR, scenario);
  const child = spawn(
    'sipp',
    [
      '-sf',
      path,
      ...args,
      '-timeout',
      `${timeoutSeconds}s`,
      '-timeout_error',
      '-trace_msg',
      '-message_file',
      messageFile,
      '-trace_err',
      '-error_file',
      errorFile,
      '-nostdin',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  const hardStop = setTimeout(() => child.kill('SIGKILL'), (timeoutSeconds + 5) * 1000).unref();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = tail(stdout + d.toString())));
  child.stderr.on('data', (d: Buffer) => (stderr = tail(stderr + d.toString())));
  const done = new Promise<SippResult>((resolve) => {
    const finish = (code: number | null, spawnError?: string) => {
      clearTimeout(hardStop);
      running.delete(child);
      resolve({ code, stdout, stderr: spawnError ?? stderr, messages: readIf(messageFile), errors: readIf(errorFile) });
    };
    child.once('close', (code) => finish(code));
    child.once('error', (e) => finish(-1, e.message));
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

/** Whether something listens on `port` (UDP socket or TCP listener), from /proc/net. */
function bound(port: number, transport: 'udp' | 'tcp'): boolean {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const LISTEN = '0A';
  return [transport, `${transport}6`].some((f) =>
    readIf(`/proc/net/${f}`)
      .split('\n')
      .map((line) => line.trim().split(/\s+/)) // sl, local_address, rem_address, st, ...
      .some(([, local, , st]) => local?.endsWith(suffix) && (transport === 'udp' || st === LISTEN)),
  );
}

/**
 * Starts SIPp and resolves once its socket is bound (so a UAS is ready to be called), with the
 * port and a promise of the run's result.
 */
export async function startSipp(o: SippOptions, t?: ExecutionContext): Promise<SippRun> {
  const transport = o.transport ?? 'udp';
  const port = o.localPort ?? (await freePort());
  const args = [
    ...(o.remote ? [o.remote] : []),
    ...[
      '-i',
      o.localIp ?? '127.0.0.1',
      '-p',
      String(port),
      '-t',
      transport === 'udp' ? 'u1' : 't1',
      '-m',
      String(o.calls ?? 1),
    ],
    ...(o.service ? ['-s', o.service] : []),
    ...Object.entries(o.set ?? {}).flatMap(([k, v]) => ['-set', k, v]),
    ...(o.args ?? []),
  ];
  const run = spawnSipp(o.scenario, args, o.timeoutSeconds ?? 30);
  t?.teardown(run.kill);
  let exited = false;
  void run.done.then(() => (exited = true));
  const until = Date.now() + 10_000;
  // A UAC binds too, then sends at once: waiting is harmless there.
  while (!exited && !bound(port, transport) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return { port, ...run };
}

/** Runs SIPp to the end (see startSipp) and returns its result. */
export function runSipp(o: SippOptions, t?: ExecutionContext): Promise<SippResult>;
/**
 * The earlier call shape, kept for the end-to-end tests: `args` are SIPp arguments after
 * `-sf <scenario>`; returns at once, without waiting for SIPp to bind.
 */
export function runSipp(scenario: string, args: string[], timeoutSeconds?: number): Omit<SippRun, 'port'>;
export function runSipp(
  a: SippOptions | string,
  b?: ExecutionContext | string[],
  c?: number,
): Promise<SippResult> | Omit<SippRun, 'port'> {
  if (typeof a === 'string') return spawnSipp(a, (b as string[] | undefined) ?? [], c ?? 60);
  return startSipp(a, b as ExecutionContext | undefined).then((run) => run.done);
}
