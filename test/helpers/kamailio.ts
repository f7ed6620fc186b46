/**
 * Kamailio (Debian `kamailio`, 5.6) as the loopback "IMS core" of the end-to-end tests: a stateful
 * proxy with an in-memory registrar, from the template test/peers/kamailio.cfg.
 *
 * Every step is bounded: the config check (`kamailio -c`), the start (until it answers an OPTIONS
 * over UDP and accepts a TCP connection) and the stop (SIGTERM, then SIGKILL). Kamailio runs in its
 * own process group, so its forked workers die with it; a SIGKILL to that group is also sent when
 * the test process exits (an ava timeout), so it is never left behind.
 *
 * Also exports the small process/port utilities that the linphone and baresip helpers share.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAMAILIO_TEMPLATE = fileURLToPath(new URL('../peers/kamailio.cfg', import.meta.url));

export type SipTransport = 'udp' | 'tcp';

export interface KamailioOptions {
  /** The proxy's listen address, a loopback address such as 127.0.0.20. */
  host: string;
  /** UDP and TCP port; default a port free for both on `host`. */
  port?: number;
  /**
   * Where requests from the clients go. Required unless `direction` is 'local'.
   * `sourceHost` is the address the IWF's requests come from (default `host`); the direction rule
   * compares it with the source IP only, so the IWF needs an address of its own.
   */
  iwf?: { host: string; port: number; transport?: SipTransport; sourceHost?: string };
  /**
   * 'iwf' (default when `iwf` is given): requests from the IWF's source address go to the
   * registered contact, all others to the IWF. 'local': every request goes to the registered
   * contact (tests of the peers alone).
   */
  direction?: 'iwf' | 'local';
  /** tm fr_timer: ms until an unanswered non-INVITE request gets 408 (default 5000). */
  frTimerMs?: number;
  /** Domains the proxy treats as itself (`alias=`), e.g. ['ims.example.test']. */
  aliases?: string[];
  /** Kamailio log level (default 2: info, one line per request and reply). */
  debug?: number;
  /** Bound on the start (default 15 s). */
  startTimeoutMs?: number;
}

export interface Kamailio {
  host: string;
  port: number;
  /** `sip:host:port` (add `;transport=tcp` for TCP). */
  uri: string;
  /** The written config. */
  configPath: string;
  /** Stderr so far (the last 256 KiB). */
  log(): string;
  /** Whether the process is still running. */
  running(): boolean;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- shared utilities

const groups = new Set<number>();
process.once('exit', () => {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/** A child spawned in its own process group, killed (group-wide) on test-process exit. */
export interface ManagedChild {
  child: ChildProcess;
  /** stdout + stderr tail (256 KiB). */
  output(): string;
  exited(): boolean;
  exitInfo(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnManaged(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: boolean; onStdout?: (d: Buffer) => void } = {},
): ManagedChild {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let done = false;
  let info = '';
  const add = (d: Buffer) => {
    out += d.toString('utf8');
    if (out.length > 262_144) out = out.slice(-262_144);
  };
  child.stdout!.on('data', (d: Buffer) => {
    if (opts.onStdout) opts.onStdout(d);
    else add(d);
  });
  child.stderr!.on('data', add);
  const closed = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      info = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (child.pid) groups.delete(child.pid);
      resolve();
    });
    child.once('error', (e) => {
      done = true;
      info = `could not start ${cmd}: ${e.message}`;
      resolve();
    });
  });
  if (child.pid) groups.add(child.pid);
  // A watcher that outlives a killed test process: its stdin is a pipe from this process, so when
  // this process dies in any way (even SIGKILL, where no 'exit' handler runs) `cat` sees EOF and
  // the watcher kills the child's whole process group. It runs in a group of its own, removed
  // (without running its kill) once the child has exited.
  let watcher: ChildProcess | undefined;
  if (child.pid) {
    watcher = spawn('sh', ['-c', `cat >/dev/null; kill -KILL -${child.pid} 2>/dev/null`], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    watcher.on('error', () => undefined);
    watcher.stdin?.on('error', () => undefined);
    watcher.unref();
    (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    const w = watcher;
    void closed.then(() => {
      if (w.pid) killGroup(w.pid, 'SIGKILL');
    });
  }
  return {
    child,
    output: () => out,
    exited: () => done,
    exitInfo: () => info,
    async stop(graceMs = 3000) {
      if (done || !child.pid) return;
      const pid = child.pid;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await closed;
      clearTimeout(timer);
      // Workers of the group that outlived their parent.
      killGroup(pid, 'SIGKILL');
    },
  };
}

/** The last `n` lines of `s`, for error messages. */
export function tailLines(s: string, n = 30): string {
  return s.split('\n').slice(-n).join('\n');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port free for both UDP and TCP on `host` right now. */
export async function freeUdpTcpPort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, host, () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${host} after 50 attempts`);
}

/** Sends one SIP OPTIONS over UDP to host:port and resolves with the status line (or undefined). */
export function sipOptionsUdp(
  host: string,
  port: number,
  fromHost: string,
  timeoutMs = 500,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const finish = (v: string | undefined) => {
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        /* closed */
      }
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.once('error', () => finish(undefined));
    sock.on('message', (m) => finish(m.toString('utf8').split('\r\n')[0]));
    sock.bind(0, fromHost, () => {
      const { port: lport } = sock.address();
      const tag = randomBytes(4).toString('hex');
      const msg = [
        `OPTIONS sip:${host}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${fromHost}:${lport};branch=z9hG4bK-probe-${tag};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@${fromHost}>;tag=${tag}`,
        `To: <sip:${host}:${port}>`,
        `Call-ID: probe-${tag}@${fromHost}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      sock.send(msg, port, host);
    });
  });
}

function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => (s.destroy(), resolve(false)), 500);
    s.once('connect', () => (clearTimeout(t), s.destroy(), resolve(true)));
    s.once('error', () => (clearTimeout(t), resolve(false)));
  });
}

// ---------------------------------------------------------------- Kamailio

/** Whether kamailio is installed. */
export function kamailioAvailable(): boolean {
  return spawnSync('kamailio', ['-v'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** The config text for `o` (exported for tests and for inspection). */
export function renderKamailioConfig(o: KamailioOptions & { port: number }): string {
  const direction = o.direction ?? (o.iwf ? 'iwf' : 'local');
  if (direction === 'iwf' && !o.iwf) throw new Error("startKamailio: direction 'iwf' needs the iwf option");
  const iwf = o.iwf ?? { host: '0.0.0.0', port: 9, transport: 'udp' as const };
  const values: Record<string, string> = {
    LISTEN_HOST: o.host,
    LISTEN_PORT: String(o.port),
    IWF_URI: `sip:${iwf.host}:${iwf.port};transport=${iwf.transport ?? 'udp'}`,
    IWF_SOURCE: iwf.sourceHost ?? iwf.host,
    FR_TIMER: String(o.frTimerMs ?? 5000),
    FR_INV_TIMER: String(Math.max(o.frTimerMs ?? 5000, 10_000)),
    DEBUG: String(o.debug ?? 2),
    DEFINES: direction === 'local' ? '#!define LOCAL_ONLY' : '',
    ALIASES: (o.aliases ?? []).map((a) => `alias="${a}"`).join('\n'),
  };
  // The template's header comment (lines starting with '# ') documents the placeholders: left as is.
  return readFileSync(KAMAILIO_TEMPLATE, 'utf8')
    .split('\n')
    .map((line) =>
      line.startsWith('# ')
        ? line
        : line.replace(/@@([A-Z_]+)@@/g, (m, name: string) => {
            const v = values[name];
            if (v === undefined) throw new Error(`kamailio.cfg: unknown placeholder ${m}`);
            return v;
          }),
    )
    .join('\n');
}

export async function startKamailio(o: KamailioOptions): Promise<Kamailio> {
  // A port chosen here can be taken by someone else before Kamailio binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKamailioOn(o, o.port ?? (await freeUdpTcpPort(o.host)));
    } catch (e) {
      if (o.port !== undefined || attempt >= 3 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function startKamailioOn(o: KamailioOptions, port: number): Promise<Kamailio> {
  const dir = mkdtempSync(join(tmpdir(), 'kamailio-'));
  const configPath = join(dir, 'kamailio.cfg');
  writeFileSync(configPath, renderKamailioConfig({ ...o, port }));

  const check = spawnSync('kamailio', ['-c', '-f', configPath], { encoding: 'utf8', timeout: 15_000 });
  if (check.error) throw new Error(`kamailio -c could not run: ${check.error.message} (Debian package kamailio)`);
  if (check.status !== 0)
    throw new Error(
      `kamailio -c rejected ${configPath} (exit ${check.status}):\n${tailLines(check.stderr + check.stdout)}`,
    );

  // -DD: do not daemonize; -E: log to stderr; -Y: runtime dir of this instance; small memory pools.
  const proc = spawnManaged('kamailio', ['-DD', '-E', '-f', configPath, '-Y', dir, '-m', '32', '-M', '4'], {
    cwd: dir,
  });
  const stop = async () => {
    await proc.stop(3000);
    rmSync(dir, { recursive: true, force: true });
  };

  const until = Date.now() + (o.startTimeoutMs ?? 15_000);
  let answered: string | undefined;
  for (;;) {
    if (proc.exited()) {
      await stop();
      throw new Error(`kamailio ${proc.exitInfo()} during start on ${o.host}:${port}:\n${tailLines(proc.output())}`);
    }
    answered = await sipOptionsUdp(o.host, port, o.host, 300);
    if (answered?.startsWith('SIP/2.0 200') && (await tcpAccepts(o.host, port))) break;
    if (Date.now() > until) {
      await stop();
      throw new Error(
        `kamailio did not answer OPTIONS on udp+tcp ${o.host}:${port} within ${o.startTimeoutMs ?? 15_000} ms (last answer: ${answered ?? 'none'}):\n${tailLines(proc.output())}`,
      );
    }
    await sleep(100);
  }

  return {
    host: o.host,
    port,
    uri: `sip:${o.host}:${port}`,
    configPath,
    log: () => proc.output(),
    running: () => !proc.exited(),
    stop,
  };
}
