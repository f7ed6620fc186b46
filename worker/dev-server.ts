import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/messages.js';
import { findTemporalCli } from './temporal-cli.js';

export interface DevServerOptions {
  /** Bind address of the frontend and the UI (temporal.embedded.ip); default 127.0.0.1. */
  ip?: string;
  /** The frontend port, or where to get one (tests: a fresh free port for each attempt). */
  port: number | (() => Promise<number>);
  uiPort?: number;
  /** Passed to the UI as `--ui-codec-endpoint`, so it can show encrypted payloads in clear. */
  uiCodecEndpoint?: string;
  /** Persistent SQLite file; omitted = in memory (tests). */
  dbFile?: string;
  namespace: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  startTimeoutMs?: number;
  /** Starts tried before giving up (default 3): the CLI picks its internal ports itself and can lose a race for one. */
  startAttempts?: number;
  /**
   * After a successful start, a server that exits on its own is restarted with backoff (1 s, doubling, at most
   * 30 s) on the same port and database; after `maxRestarts` (default 5) within 10 minutes `onGiveUp` is called.
   * Without `onGiveUp` nothing is supervised.
   */
  supervise?: { onGiveUp(reason: string): void; maxRestarts?: number };
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  /** Restarts done by the supervisor so far. */
  restarts(): number;
  stop(): Promise<void>;
}

interface Child {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: StderrTail;
}

/** The first and the last part of what the CLI printed: a panic's cause is at the start, its trace after. */
class StderrTail {
  private head = '';
  private tail = '';
  add(d: Buffer): void {
    const text = d.toString();
    if (this.head.length < 3000) this.head += text.slice(0, 3000 - this.head.length);
    else this.tail = (this.tail + text).slice(-2000);
  }
  /** The error lines the server logged (JSON, level error/fatal), else the head and tail as printed. */
  summary(): string {
    const errors = `${this.head}\n${this.tail}`
      .split('\n')
      .filter((l) => /"level":"(error|fatal|ERROR|FATAL)"/.test(l) || /^(panic|Error):/.test(l));
    if (errors.length > 0) return errors.slice(0, 6).join('\n');
    return this.tail ? `${this.head.trim()}\n...\n${this.tail.trim()}` : this.head.trim();
  }
}

/**
 * Where to reach a server bound to `ip`, as host:port: a wildcard bind is reached on loopback, and
 * an IPv6 address is bracketed (RFC 3986 3.2.2).
 */
export function reachableAt(ip: string, port: number): string {
  const host = ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '::1' : ip;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function argsFor(o: DevServerOptions, ip: string, port: number): string[] {
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--namespace', o.namespace];
  args.push('--log-level', 'warn', '--log-format', 'json');
  if (o.uiPort) {
    args.push('--ui-port', String(o.uiPort), '--ui-ip', ip);
    if (o.uiCodecEndpoint) args.push('--ui-codec-endpoint', o.uiCodecEndpoint);
  } else args.push('--headless');
  if (o.dbFile) {
    args.push(
      '--db-filename',
      o.dbFile,
      '--sqlite-pragma',
      'journal_mode=WAL',
      '--sqlite-pragma',
      'synchronous=NORMAL',
    );
  }
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  for (const dc of [
    'frontend.enableUpdateWorkflowExecution=true',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    'frontend.enableExecuteMultiOperation=true',
  ]) {
    args.push('--dynamic-config-value', dc);
  }
  return args;
}

/** One start of the CLI, resolved once the frontend answers its health check. */
async function launch(o: DevServerOptions, cli: string, ip: string, port: number, pidFile?: string): Promise<Child> {
  const child: ChildProcess = spawn(cli, argsFor(o, ip, port), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
  const stderr = new StderrTail();
  child.stderr?.on('data', (d: Buffer) => stderr.add(d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const address = reachableAt(ip, port);
  const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
  for (;;) {
    const code = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 250))]);
    if (code !== 'wait') throw new Error(`temporal dev server on ${address} exited with ${code}: ${stderr.summary()}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.healthService.check({});
      await conn.close();
      return { child, exited, stderr };
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`temporal dev server did not answer on ${address}: ${stderr.summary()}`);
      }
    }
  }
}

/**
 * Starts `temporal server start-dev` as a child process (docs/temporal-notes.md): SQLite with WAL,
 * our search attributes registered, updates and multi-operations enabled, and waits until the
 * frontend answers. A start that fails is tried again (`startAttempts`); a server that later exits
 * on its own is restarted when `supervise` is given.
 */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const cli = findTemporalCli();
  const pidFile = o.dbFile ? `${o.dbFile}.pid` : undefined;
  if (pidFile) await stopLeftover(pidFile, o.log);
  if (o.dbFile) mkdirSync(dirname(o.dbFile), { recursive: true });
  const ip = o.ip ?? '127.0.0.1';
  const portOf = typeof o.port === 'function' ? o.port : () => Promise.resolve(o.port as number);

  let port = 0;
  let current: Child | undefined;
  const attempts = o.startAttempts ?? 3;
  for (let attempt = 1; !current; attempt++) {
    port = await portOf();
    try {
      current = await launch(o, cli, ip, port, pidFile);
    } catch (e) {
      if (attempt >= attempts) throw e;
      o.log?.warn(
        { attempt, error: (e as Error).message },
        'embedded Temporal dev server failed to start, trying again',
      );
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  const address = reachableAt(ip, port);
  o.log?.info({ address, ui: o.uiPort, db: o.dbFile ?? 'memory' }, 'embedded Temporal dev server up');

  let stopping = false;
  let restarts = 0;
  const recent: number[] = [];
  const watch = (c: Child) => {
    void c.exited.then(async (code) => {
      if (stopping || !o.supervise) return;
      const maxRestarts = o.supervise.maxRestarts ?? 5;
      const now = Date.now();
      while (recent.length > 0 && now - recent[0] > 10 * 60_000) recent.shift();
      if (recent.length >= maxRestarts) {
        o.supervise.onGiveUp(`embedded Temporal dev server exited (${code}) ${recent.length + 1} times in 10 minutes`);
        return;
      }
      const delay = Math.min(30_000, 1000 * 2 ** recent.length);
      recent.push(now);
      o.log?.error(
        { code, restartInMs: delay, stderr: c.stderr.summary() },
        'embedded Temporal dev server exited; restarting it',
      );
      await new Promise((r) => setTimeout(r, delay));
      if (stopping) return;
      try {
        current = await launch(o, cli, ip, port, pidFile);
        if (stopping) {
          current.child.kill('SIGTERM');
          return;
        }
        restarts++;
        o.log?.info({ address, restarts }, 'embedded Temporal dev server restarted');
        watch(current);
      } catch (e) {
        o.log?.error({ error: (e as Error).message }, 'embedded Temporal dev server did not restart');
        // The failed launch has exited: count it and try again through the same path.
        watch({ ...c, exited: Promise.resolve(null) });
      }
    });
  };
  watch(current);

  return {
    address,
    uiUrl: o.uiPort ? `http://${reachableAt(ip, o.uiPort)}` : undefined,
    restarts: () => restarts,
    async stop() {
      stopping = true;
      const c = current;
      if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
      c.child.kill('SIGTERM');
      const t = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
      await c.exited;
      clearTimeout(t);
      if (pidFile) rmSync(pidFile, { force: true });
    },
  };
}

/**
 * A server left running by an IWF process that was killed outright (SIGKILL gives no chance to
 * stop children) still holds the port and the SQLite file: stop it before starting a new one.
 */
async function stopLeftover(pidFile: string, log?: DevServerOptions['log']): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8'));
  } catch {
    return;
  }
  const dbFile = pidFile.replace(/\.pid$/, '');
  // Only that very server: pids are reused (and /proc/<n> also answers for a thread id), so the
  // process must be a thread-group leader whose command line names start-dev and this database.
  const alive = () => {
    try {
      process.kill(pid, 0);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^Tgid:\s*(\d+)/m.exec(status)?.[1] !== String(pid)) return false;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.includes('start-dev') && argv.includes(dbFile);
    } catch {
      return false;
    }
  };
  if (pid > 0 && alive()) {
    log?.warn({ pid }, 'stopping an embedded Temporal server left over from an earlier run');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive()) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
}
