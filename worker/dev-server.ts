import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/messages.js';
import { findTemporalCli } from './temporal-cli.js';

export interface DevServerOptions {
  ip?: string;
  port: number;
  uiPort?: number;
  /** Persistent SQLite file; omitted = in memory (tests). */
  dbFile?: string;
  namespace: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` as a child process (docs/temporal-notes.md): SQLite with WAL,
 * our search attributes registered, updates and multi-operations enabled, and waits until the
 * frontend answers.
 */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const cli = findTemporalCli();
  const pidFile = o.dbFile ? `${o.dbFile}.pid` : undefined;
  if (pidFile) await stopLeftover(pidFile, o.log);
  const ip = o.ip ?? '127.0.0.1';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(o.port), '--namespace', o.namespace];
  args.push('--log-level', 'warn', '--log-format', 'json');
  if (o.uiPort) args.push('--ui-port', String(o.uiPort), '--ui-ip', ip);
  else args.push('--headless');
  if (o.dbFile) {
    mkdirSync(dirname(o.dbFile), { recursive: true });
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
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const address = `${ip}:${o.port}`;
  const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
  for (;;) {
    const code = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 250))]);
    if (code !== 'wait') throw new Error(`temporal dev server exited with ${code}: ${stderr.trim()}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.healthService.check({});
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server did not answer on ${address}: ${stderr.trim()}`);
      }
    }
  }
  o.log?.info({ address, ui: o.uiPort, db: o.dbFile ?? 'memory' }, 'embedded Temporal dev server up');
  return {
    address,
    uiUrl: o.uiPort ? `http://${ip}:${o.uiPort}` : undefined,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
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
  const alive = () => {
    try {
      process.kill(pid, 0);
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('start-dev');
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
