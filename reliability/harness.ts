/**
 * The reliability suite's rig: a real `npm start` (worker/main.ts as its own process, embedded
 * Temporal on a SQLite file in a temp dir) between independent peers:
 *  - the test MMSC (test/helpers/mmsc.ts: smtp-server + postal-mime, none of our MM4 code), answering
 *    MM4_forward.REQ with MM4_forward.RES (3GPP TS 23.140 §8.4.2) and retrying its SMTP sends on
 *    4xx / refused connections as an MTA does (RFC 5321 §4.5.4.1);
 *  - a SIP UAS at the outbound proxy and a SIP UAC playing the IMS core, both written here on raw
 *    sockets (none of clients/sip or protocols/sip), with the RFC 3261 §17 transaction rules a peer
 *    needs: the UAS answers a retransmission with the same response, the UAC retransmits over UDP
 *    (Timer A/B, §17.1.2.2 for non-INVITE) and tries a new transaction after a 503 or a timeout.
 * Every delivery carries a token in its text, so each peer counts what it saw per delivery.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { cpmDeliveryId } from '../ingress/sip-server.js';
import { IwfState, mmsToCpmWorkflowId } from '../workflows/messages.js';
import {
  answerAddress,
  forwardReq,
  MMSC_SYSTEM,
  mmscRes,
  sendMm4,
  startFakeMmsc,
  type ReceivedMm4,
} from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * tsx's loader (its package `exports` '.'), by absolute URL: the IWF runs with a temp dir as its
 * working dir, where a bare `--import tsx` would not resolve.
 */
const TSX_LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
export const MMSC_DOMAIN = 'mms.mnc001.mcc001.gprs';
export const IWF_MM4_DOMAIN = 'mms.iwf.example.net';
/** The CPM sender of CPM -> MMS deliveries (its P-Asserted-Identity). */
export const CPM_SENDER = 'tel:+12025550101';
/** A CPM user (cpm.users +1202555*): MMS -> CPM recipient. */
export const CPM_RECIPIENT = '+12025550199';
/** An MMS user served by the test MMSC (numbers +49): CPM -> MMS recipient. */
export const MMS_RECIPIENT = '+4915112345678';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const token = (prefix: string) => `${prefix}${randomBytes(6).toString('hex')}`;
const TOKEN_RE = /\brel-[a-z0-9]+-[0-9a-f]{12}\b/;

// ---------------------------------------------------------------------------------------------
// Results

export interface GroupResult {
  group: string;
  title: string;
  /** 'waiting' when a group needs a feature the IWF does not have yet (R6 and ingress.maxInFlight). */
  status: 'ran' | 'waiting';
  cases: number;
  lost: number;
  duplicated: number;
  crashes: number;
  hangs: number;
  /** Access-control or protocol-answer violations (wrong answer, fetched a forbidden address ...). */
  violations: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  /** Group-specific figures (rates, latencies, answer counts). */
  figures: Record<string, number | string>;
  /** One line per failure, precise enough to reproduce. */
  failures: string[];
}

export function emptyResult(group: string, title: string): GroupResult {
  return {
    group,
    title,
    status: 'ran',
    cases: 0,
    lost: 0,
    duplicated: 0,
    crashes: 0,
    hangs: 0,
    violations: 0,
    rssBeforeKb: 0,
    rssAfterKb: 0,
    figures: {},
    failures: [],
  };
}

export function failed(r: GroupResult): boolean {
  return r.status === 'ran' && r.lost + r.duplicated + r.crashes + r.hangs + r.violations > 0;
}

// ---------------------------------------------------------------------------------------------
// The IWF process

export interface IwfPorts {
  mm4: number;
  sip: number;
  media: number;
  temporal: number;
  ui: number;
}

export interface IwfOptions {
  mmscPort: number;
  uasPort: number;
  /** More top-level keys merged into the config (e.g. `ingress` for R6). */
  extra?: Record<string, unknown>;
  /** `delivery` overrides. */
  delivery?: Record<string, unknown>;
}

/** `RSS` of a process in KiB (/proc/<pid>/status VmRSS), 0 when it is gone. */
export function rssKb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `node --import tsx worker/main.ts --config <dir>/iwf.yaml` in a temp dir (what `npm start` runs),
 * on fixed ports so a restarted process is reached where the peers expect it.
 */
export class IwfProcess {
  readonly dir: string;
  readonly configFile: string;
  child?: ChildProcess;
  /** Exits nobody asked for (no signal from us): crashes. */
  unexpectedExits: string[] = [];
  private expectExit = false;
  private lines: string[] = [];
  private stderr = '';

  constructor(
    readonly ports: IwfPorts,
    readonly opts: IwfOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'iwf-reliability-'));
    this.configFile = join(this.dir, 'iwf.yaml');
    writeFileSync(this.configFile, stringify(this.configTree()));
  }

  static async create(opts: IwfOptions): Promise<IwfProcess> {
    const ports = {
      mm4: await freePort(),
      sip: await freePort(),
      media: await freePort(),
      temporal: await freePort(),
      ui: await freePort(),
    };
    return new IwfProcess(ports, opts);
  }

  configTree(): Record<string, unknown> {
    const p = this.ports;
    return {
      dataDir: this.dir,
      log: { level: 'info' },
      temporal: {
        namespace: 'default',
        taskQueue: 'iwf',
        embedded: { port: p.temporal, uiPort: p.ui, ui: false, dbFile: 'temporal.sqlite' },
      },
      mm4: {
        listen: `127.0.0.1:${p.mm4}`,
        domain: IWF_MM4_DOMAIN,
        peers: [
          {
            name: 'operator-a',
            domains: [MMSC_DOMAIN],
            smtp: `127.0.0.1:${this.opts.mmscPort}`,
            allow: ['127.0.0.1'],
            numbers: ['+49'],
          },
        ],
      },
      sip: {
        listen: `127.0.0.1:${p.sip}`,
        domain: 'ims.iwf.example.net',
        outboundProxy: `127.0.0.1:${this.opts.uasPort}`,
        transport: 'udp',
        trusted: ['127.0.0.1'],
        timers: { t1: '100ms', t2: '400ms', t4: '1s' },
      },
      cpm: { users: ['+1202555*'], defaultCountry: 'US' },
      // fetchHosts left at its default (public addresses only): R5 checks the SSRF guard as shipped.
      media: { listen: `127.0.0.1:${p.media}`, publicUrl: `http://127.0.0.1:${p.media}`, dir: 'media' },
      audit: { store: 'jsonl', file: 'audit.jsonl' },
      delivery: {
        retry: { maxAttempts: 8, initialInterval: '300ms', backoffCoefficient: 2, maxInterval: '2s' },
        mm4Ack: { timeout: '4s', maxAttempts: 6 },
        ...this.opts.delivery,
      },
      ...this.opts.extra,
    };
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get temporalPidFile(): string {
    return join(this.dir, 'temporal.sqlite.pid');
  }

  temporalPid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.temporalPidFile, 'utf8'));
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  rssKb(): number {
    return rssKb(this.pid);
  }

  recentLog(n = 30): string {
    return [...this.lines.slice(-n), this.stderr.slice(-2000)].join('\n');
  }

  /** Log lines matching `re` so far (JSON lines of pino). */
  logLines(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  /**
   * Starts the process; resolves once it logs "IWF running", rejects with its stderr if it exits
   * first (e.g. exit 2 for a config key it does not know).
   */
  start(timeoutMs = 180_000): Promise<void> {
    this.expectExit = false;
    this.lines = [];
    this.stderr = '';
    const child = spawn(
      process.execPath,
      ['--import', TSX_LOADER, join(ROOT, 'worker/main.ts'), '--config', this.configFile],
      {
        cwd: this.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TEMPORAL_ADDRESS: '', IWF_CONFIG: '' },
      },
    );
    this.child = child;
    // Every start's log, kept with the data dir (RELIABILITY_KEEP=1) for a post-mortem.
    child.stdout.pipe(createWriteStream(join(this.dir, 'iwf.log'), { flags: 'a' }));
    let buf = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`IWF did not start in ${timeoutMs} ms:\n${this.recentLog()}`));
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        for (const line of parts) {
          this.lines.push(line);
          if (this.lines.length > 20_000) this.lines.splice(0, 10_000);
          if (line.includes('"IWF running"')) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!this.expectExit) this.unexpectedExits.push(`exit ${code ?? signal}: ${this.recentLog(10)}`);
        reject(
          Object.assign(new Error(`IWF exited (${code ?? signal}):\n${this.stderr}`), { code, stderr: this.stderr }),
        );
      });
    });
  }

  /** SIGKILL (no cleanup: its Temporal child lives on until the next start stops it via the pid file). */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.expectExit = true;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (clean stop), then SIGKILL after 30 s; then any Temporal server it left behind. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      this.expectExit = true;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    const tpid = this.temporalPid();
    if (tpid && alive(tpid) && readFileSafe(`/proc/${tpid}/cmdline`).includes('start-dev'))
      process.kill(tpid, 'SIGKILL');
  }

  auditRecords(): { workflowId: string; outcome?: { result: string; mm4Status: string } }[] {
    const f = join(this.dir, 'audit.jsonl');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { workflowId: string; outcome?: { result: string; mm4Status: string } }];
        } catch {
          return [];
        }
      });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readFileSafe(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// SIP on raw sockets (RFC 3261 §7 message format, written and read here)

export interface SipMsg {
  startLine: string;
  headers: [string, string][];
  body: Buffer;
}

/** Splits one SIP message (start line, headers, body); undefined when there is no blank line. */
export function parseSip(buf: Buffer): SipMsg | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [startLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: [string, string][] = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && headers.length) headers[headers.length - 1][1] += ` ${l.trim()}`;
    else {
      const i = l.indexOf(':');
      if (i > 0) headers.push([l.slice(0, i).trim(), l.slice(i + 1).trim()]);
    }
  }
  return { startLine, headers, body: buf.subarray(end + 4) };
}

const COMPACT: Record<string, string> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  l: 'content-length',
  c: 'content-type',
};
export function sipHeader(m: SipMsg, name: string): string | undefined {
  const n = name.toLowerCase();
  return m.headers.find(([k]) => (COMPACT[k.toLowerCase()] ?? k.toLowerCase()) === n)?.[1];
}
export function sipHeaders(m: SipMsg, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => (COMPACT[k.toLowerCase()] ?? k.toLowerCase()) === n).map(([, v]) => v);
}
export function statusOf(m: SipMsg): number | undefined {
  const s = /^SIP\/2\.0 (\d{3})/.exec(m.startLine);
  return s ? Number(s[1]) : undefined;
}

/** What the UAS saw of one server transaction (RFC 3261 §17.2.2: keyed by the top Via branch). */
export interface UasTransaction {
  branch: string;
  callId: string;
  cseq: string;
  token?: string;
  imdnId?: string;
  copies: number;
  answeredAt?: number;
}

/**
 * The SIP UAS at the outbound proxy (the CPM side of MMS -> CPM): answers each new MESSAGE after
 * `delayMs` with `status` (202 by default), a retransmission with the same answer once it is given.
 */
export async function startUas(o: { delayMs?: () => number; status?: (t: UasTransaction) => number } = {}) {
  const sock = createSocket('udp4');
  const tx = new Map<string, UasTransaction>();
  const answers = new Map<string, Buffer>();
  sock.on('message', (buf, rinfo) => {
    const m = parseSip(buf);
    if (!m || statusOf(m) !== undefined) return;
    const via = sipHeaders(m, 'via');
    const branch = /branch=([^;,\s]+)/.exec(via[0] ?? '')?.[1] ?? '';
    const key = `${branch} ${sipHeader(m, 'cseq')}`;
    const seen = tx.get(key);
    if (seen) {
      seen.copies++;
      const a = answers.get(key);
      if (a) sock.send(a, rinfo.port, rinfo.address);
      return;
    }
    const body = m.body.toString('utf8');
    const t: UasTransaction = {
      branch,
      callId: sipHeader(m, 'call-id') ?? '',
      cseq: sipHeader(m, 'cseq') ?? '',
      token: TOKEN_RE.exec(body)?.[0],
      imdnId: /imdn\.Message-ID:\s*(\S+)/i.exec(body)?.[1],
      copies: 1,
    };
    tx.set(key, t);
    const status = o.status?.(t) ?? 202;
    const res = Buffer.from(
      [
        `SIP/2.0 ${status} ${status === 202 ? 'Accepted' : status === 200 ? 'OK' : 'Refused'}`,
        ...via.map((v) => `Via: ${v}`),
        `From: ${sipHeader(m, 'from')}`,
        `To: ${sipHeader(m, 'to')};tag=uas${branch.slice(-8)}`,
        `Call-ID: ${t.callId}`,
        `CSeq: ${t.cseq}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    setTimeout(() => {
      answers.set(key, res);
      t.answeredAt = Date.now();
      sock.send(res, rinfo.port, rinfo.address);
    }, o.delayMs?.() ?? 0);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  return {
    port,
    transactions: () => [...tx.values()],
    /** MESSAGE transactions per delivery token. */
    byToken(tok: string) {
      return [...tx.values()].filter((t) => t.token === tok);
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
export type Uas = Awaited<ReturnType<typeof startUas>>;

let cseqCounter = 1;
/** A CPM pager-mode MESSAGE (RFC 3428) with a CPIM body (RFC 3862) as the IMS core hands it over. */
export function cpmMessage(o: {
  sipPort: number;
  imdnId: string;
  text?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  branch?: string;
  innerType?: string;
  inner?: Buffer;
  transport?: 'UDP' | 'TCP';
  localPort?: number;
  localHost?: string;
  extraHeaders?: string[];
  requestUri?: string;
}): { bytes: Buffer; callId: string; branch: string } {
  const to = o.to ?? MMS_RECIPIENT;
  const callId = o.callId ?? `${randomBytes(8).toString('hex')}@core.ims.example.net`;
  const branch = o.branch ?? `z9hG4bK-${randomBytes(8).toString('hex')}`;
  const inner = o.inner ?? Buffer.from(o.text ?? 'hello');
  const cpim = Buffer.concat([
    Buffer.from(
      [
        `From: <${CPM_SENDER}>`,
        `To: <tel:${to}>`,
        'DateTime: 2025-03-04T10:15:02.000Z',
        'NS: imdn <urn:ietf:params:imdn>',
        `imdn.Message-ID: ${o.imdnId}`,
        '',
        `Content-Type: ${o.innerType ?? 'text/plain; charset=utf-8'}`,
        `Content-Length: ${inner.length}`,
        '',
        '',
      ].join('\r\n'),
    ),
    inner,
  ]);
  const head = [
    `MESSAGE ${o.requestUri ?? `tel:${to}`} SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'UDP'} ${o.localHost ?? '127.0.0.1'}:${o.localPort ?? 5060};branch=${branch}`,
    'Max-Forwards: 70',
    `From: <${CPM_SENDER}>;tag=core${branch.slice(-6)}`,
    `To: <${o.requestUri ?? `tel:${to}`}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${o.cseq ?? cseqCounter++} MESSAGE`,
    `P-Asserted-Identity: <${CPM_SENDER}>`,
    ...(o.extraHeaders ?? []),
    'Content-Type: message/cpim',
    `Content-Length: ${cpim.length}`,
    '',
    '',
  ].join('\r\n');
  return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), cpim]), callId, branch };
}

/** A UDP socket of the IMS core (the UAC side of CPM -> MMS), bound to `host`. */
export async function startCore(host = '127.0.0.1') {
  const sock: UdpSocket = createSocket('udp4');
  const waiters = new Map<string, (m: SipMsg) => void>();
  sock.on('message', (buf) => {
    const m = parseSip(buf);
    if (!m || statusOf(m) === undefined) return;
    const branch = /branch=([^;,\s]+)/.exec(sipHeader(m, 'via') ?? '')?.[1] ?? '';
    if ((statusOf(m) ?? 0) >= 200) waiters.get(branch)?.(m);
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  const port = sock.address().port;

  /**
   * One non-INVITE client transaction over UDP (RFC 3261 §17.1.2.2): retransmit at T1 doubling to
   * T2 (500 ms, 4 s) until a final response or Timer F (64*T1 = 32 s, or `timeoutMs`).
   */
  function transaction(
    bytes: Buffer,
    branch: string,
    iwfPort: number,
    timeoutMs = 32_000,
  ): Promise<number | 'timeout'> {
    return new Promise((resolve) => {
      let interval = 500;
      let timer: NodeJS.Timeout;
      const send = () => {
        sock.send(bytes, iwfPort, '127.0.0.1');
        timer = setTimeout(send, interval);
        interval = Math.min(interval * 2, 4000);
      };
      const giveUp = setTimeout(() => {
        clearTimeout(timer);
        waiters.delete(branch);
        resolve('timeout');
      }, timeoutMs);
      waiters.set(branch, (m) => {
        clearTimeout(timer);
        clearTimeout(giveUp);
        waiters.delete(branch);
        resolve(statusOf(m)!);
      });
      send();
    });
  }

  /** A datagram sent as is; resolves with the first final answer to `branch` or 'timeout'. */
  function once(bytes: Buffer, branch: string, iwfPort: number, timeoutMs: number): Promise<number | 'timeout'> {
    return new Promise((resolve) => {
      const giveUp = setTimeout(() => {
        waiters.delete(branch);
        resolve('timeout');
      }, timeoutMs);
      waiters.set(branch, (m) => {
        clearTimeout(giveUp);
        waiters.delete(branch);
        resolve(statusOf(m)!);
      });
      sock.send(bytes, iwfPort, '127.0.0.1');
    });
  }

  return {
    port,
    host,
    transaction,
    once,
    /** A datagram as is, no waiting (retransmissions of a transaction already sent). */
    raw: (bytes: Buffer, iwfPort: number) => sock.send(bytes, iwfPort, '127.0.0.1'),
    /**
     * Sends a CPM MESSAGE as a client does until it is taken: new transactions (same imdn.Message-ID,
     * RFC 5438 §6.3) after a 503 or a timed-out transaction, up to `untilMs`. Returns every answer.
     */
    async deliver(sipPort: number, imdnId: string, text: string, untilMs = 90_000): Promise<(number | 'timeout')[]> {
      const end = Date.now() + untilMs;
      const answers: (number | 'timeout')[] = [];
      const callId = `${randomBytes(8).toString('hex')}@core.ims.example.net`;
      for (let cseq = 1; Date.now() < end; cseq++) {
        const m = cpmMessage({ sipPort, imdnId, text, callId, cseq, localPort: port, localHost: host });
        const a = await transaction(m.bytes, m.branch, sipPort, Math.min(32_000, Math.max(1000, end - Date.now())));
        answers.push(a);
        if (a !== 'timeout' && a !== 503 && a < 500) return answers;
        await sleep(1000);
      }
      return answers;
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
export type Core = Awaited<ReturnType<typeof startCore>>;

/**
 * One SIP request over TCP (RFC 3261 §18.3: framed by Content-Length); resolves with the status of
 * the first final response, 'closed' when the server closed without one, 'timeout' otherwise.
 */
export function sipOverTcp(
  port: number,
  bytes: Buffer,
  timeoutMs: number,
  localAddress = '127.0.0.1',
): Promise<number | 'closed' | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port, localAddress });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: number | 'closed' | 'timeout' | 'error') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let off = 0; ;) {
        const m = parseSip(buf.subarray(off));
        if (!m) break;
        const st = statusOf(m);
        if (st !== undefined && st >= 200) return finish(st);
        const next = buf.indexOf('\r\n\r\n', off);
        off = next + 4 + Number(sipHeader(m, 'content-length') ?? 0);
        if (off >= buf.length) break;
      }
    });
    s.on('error', () => finish(buf.length ? 'closed' : 'error'));
    s.on('close', () => finish('closed'));
    s.write(bytes);
  });
}

/**
 * One datagram from a fresh socket; resolves with the status of the first final response to
 * arrive there, or 'timeout' (RFC 3261 §18.2.2: the answer goes to the source when Via says rport
 * or names the source; the corpus writes both).
 */
export function sipUdpOnce(
  port: number,
  bytes: Buffer,
  timeoutMs: number,
  localHost = '127.0.0.1',
): Promise<number | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    let done = false;
    const finish = (v: number | 'timeout' | 'error') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('message', (buf) => {
      const m = parseSip(buf);
      const st = m && statusOf(m);
      if (st !== undefined && st !== null && st >= 200) finish(st);
    });
    sock.on('error', () => finish('error'));
    sock.bind(0, localHost, () => sock.send(bytes, port, '127.0.0.1', (e) => e && finish('error')));
  });
}

/** The local port a fresh socket would get is unknown before binding: corpus SIP names `rport`. */
export function fillSipTemplate(
  text: Buffer,
  transport: 'UDP' | 'TCP',
  branch = `z9hG4bK-${randomBytes(6).toString('hex')}`,
): Buffer {
  const s = text.toString('latin1').replaceAll('{{TRANSPORT}}', transport).replaceAll('{{BRANCH}}', branch);
  return Buffer.from(s, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// SMTP on a raw socket (for hostile bytes the IWF must answer; RFC 5321 §4.2 replies)

/**
 * One SMTP transaction written by hand: EHLO, MAIL, RCPT, DATA with the body dot-stuffed (RFC 5321
 * §4.5.2), '.'. Resolves with the first refusal or the reply to the final '.', 'timeout' when no
 * reply came within `timeoutMs` of the last command, 'closed' when the server hung up silently.
 */
export function smtpRaw(
  port: number,
  body: Buffer,
  o: { from?: string; to?: string[]; timeoutMs?: number; localAddress?: string; ehlo?: string } = {},
): Promise<{ code: number | 'timeout' | 'closed'; stage: string; reply: string }> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: o.localAddress ?? '127.0.0.1' });
    let buf = '';
    let stage = 'greeting';
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('timeout', ''), timeoutMs);
    };
    const finish = (code: number | 'timeout' | 'closed', reply: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ code, stage, reply });
    };
    /** What was sent after each step: the stage whose reply comes next. */
    const SENT = ['ehlo', 'mail', 'rcpt', 'data', 'end'];
    const steps: [string, () => void][] = [
      ['greeting', () => s.write(`EHLO ${o.ehlo ?? 'mmsc.reliability.test'}\r\n`)],
      ['ehlo', () => s.write(`MAIL FROM:<${o.from ?? `+12025550101/TYPE=PLMN@${MMSC_DOMAIN}`}>\r\n`)],
      ['mail', () => s.write(`RCPT TO:<${(o.to ?? [`${CPM_RECIPIENT}/TYPE=PLMN@${IWF_MM4_DOMAIN}`])[0]}>\r\n`)],
      ['rcpt', () => s.write('DATA\r\n')],
      [
        'data',
        () => {
          const text = body.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
          s.write(Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'latin1'));
          s.write('.\r\n');
        },
      ],
    ];
    let i = 0;
    arm();
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      let m;
      while ((m = /^(\d{3})([ -])([^\n]*)\n/.exec(buf))) {
        buf = buf.slice(m[0].length);
        if (m[2] === '-') continue;
        const code = Number(m[1]);
        if (stage === 'end') return finish(code, m[0].trim());
        // `stage` names the command whose reply this is; DATA is answered 354 (RFC 5321 §4.1.1.4).
        const expectOk = stage === 'data' ? code === 354 : code >= 200 && code < 300;
        if (!expectOk) return finish(code, m[0].trim());
        const step = steps[i++];
        if (!step) return finish(code, m[0].trim());
        stage = SENT[i - 1];
        step[1]();
        arm();
      }
    });
    s.on('error', () => finish('closed', ''));
    s.on('close', () => finish('closed', ''));
  });
}

// ---------------------------------------------------------------------------------------------
// The MMSC

/** What the MMSC does with a MM4_forward.REQ the IWF sent (CPM -> MMS): answer after `delayMs`. */
export async function startMmsc(o: { iwfMm4Port: () => number; resDelayMs?: () => number }) {
  const sends: { ok: boolean; code?: number }[] = [];
  const mmsc = await startFakeMmsc(0, (m: ReceivedMm4) => {
    if (m.type !== 'MM4_forward.REQ' || m.headers['x-mms-ack-request']?.toLowerCase() !== 'yes') return;
    const raw = mmscRes(m, 'Ok');
    setTimeout(
      () => void sendUntilTaken(o.iwfMm4Port, raw, { from: MMSC_SYSTEM, to: [answerAddress(m)] }, sends),
      o.resDelayMs?.() ?? 20,
    );
  });
  const tokenOf = (m: ReceivedMm4) => TOKEN_RE.exec(m.text ?? m.raw.toString('latin1'))?.[0];
  return {
    ...mmsc,
    sends,
    /** MM4_forward.REQ copies the IWF sent for a CPM -> MMS delivery token. */
    forwardsFor: (tok: string) => mmsc.received.filter((m) => m.type === 'MM4_forward.REQ' && tokenOf(m) === tok),
    /** MM4_forward.RES the IWF sent for an MMS -> CPM transaction id. */
    resFor: (transactionId: string) =>
      mmsc.received.filter((m) => m.type === 'MM4_forward.RES' && m.transactionId === transactionId),
  };
}
export type Mmsc = Awaited<ReturnType<typeof startMmsc>>;

/** An MTA's retries (RFC 5321 §4.5.4.1): on 4xx or no connection, again every second up to `untilMs`. */
export async function sendUntilTaken(
  port: () => number,
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
  log?: { ok: boolean; code?: number }[],
  untilMs = 120_000,
): Promise<{ ok: boolean; code?: number; response: string; attempts: number }> {
  const end = Date.now() + untilMs;
  for (let attempts = 1; ; attempts++) {
    const r = await sendMm4(port(), raw, envelope);
    log?.push({ ok: r.ok, code: r.ok ? 250 : r.code });
    if (r.ok || (r.code !== undefined && r.code >= 500) || Date.now() > end) return { ...r, attempts };
    await sleep(1000);
  }
}

/** An MMS -> CPM MM4_forward.REQ carrying `tok`, no delivery report asked (its .RES ends it). */
export function mmsForward(tok: string, extra: Partial<Parameters<typeof forwardReq>[0]> = {}) {
  return forwardReq({ messageId: `M-${tok}`, text: `reliability ${tok}`, deliveryReport: false, ...extra });
}
export const MMS_ENVELOPE = {
  from: `+12025550101/TYPE=PLMN@${MMSC_DOMAIN}`,
  to: [`${CPM_RECIPIENT}/TYPE=PLMN@${IWF_MM4_DOMAIN}`],
};

export const mmsWorkflowId = (tok: string) => mmsToCpmWorkflowId(MMSC_SYSTEM, `M-${tok}`);
export const cpmWorkflowId = (imdnId: string) => cpmDeliveryId(CPM_SENDER, imdnId);

// ---------------------------------------------------------------------------------------------
// The whole rig

export class Rig {
  mmsc!: Mmsc;
  uas!: Uas;
  core!: Core;
  iwf!: IwfProcess;
  private connection?: Connection;
  private client?: Client;
  uasDelayMs = 0;
  resDelayMs = 20;

  static async start(o: { extra?: Record<string, unknown>; startIwf?: boolean } = {}): Promise<Rig> {
    const rig = new Rig();
    rig.mmsc = await startMmsc({ iwfMm4Port: () => rig.iwf.ports.mm4, resDelayMs: () => rig.resDelayMs });
    rig.uas = await startUas({ delayMs: () => rig.uasDelayMs });
    rig.core = await startCore();
    rig.iwf = await IwfProcess.create({ mmscPort: rig.mmsc.port, uasPort: rig.uas.port, extra: o.extra });
    if (o.startIwf !== false) await rig.iwf.start();
    return rig;
  }

  async temporal(): Promise<Client> {
    if (!this.client) {
      this.connection = await Connection.connect({ address: `127.0.0.1:${this.iwf.ports.temporal}` });
      this.client = new Client({ connection: this.connection, namespace: 'default' });
    }
    return this.client;
  }

  /**
   * The machine state of a delivery: its `IwfState` search attribute (workflows/messages.ts), which
   * stays readable when payloads are encrypted; undefined while it cannot be asked.
   */
  async stateOf(workflowId: string): Promise<string | undefined> {
    try {
      const c = await this.temporal();
      const d = await c.workflow.getHandle(workflowId).describe();
      return d.typedSearchAttributes.get(IwfState) ?? (d.status.name === 'COMPLETED' ? 'done' : undefined);
    } catch {
      return undefined;
    }
  }

  /** Sends an MMS -> CPM delivery as an MMSC does (retrying 4xx), returning the final SMTP reply. */
  sendMms(tok: string, untilMs = 120_000) {
    return sendUntilTaken(() => this.iwf.ports.mm4, mmsForward(tok), MMS_ENVELOPE, undefined, untilMs);
  }

  /** Sends a CPM -> MMS delivery as the IMS core does (new transactions after 503/timeouts). */
  sendCpm(tok: string, untilMs = 120_000) {
    return this.core.deliver(this.iwf.ports.sip, `imdn-${tok}`, `reliability ${tok}`, untilMs);
  }

  auditCount(workflowId: string): number {
    return this.iwf.auditRecords().filter((r) => r.workflowId === workflowId).length;
  }

  /**
   * Whether a delivery is complete as its peers see it. MMS -> CPM: the UAS took a MESSAGE and the
   * MMSC has the MM4_forward.RES. CPM -> MMS: the MMSC has the MM4_forward.REQ and the audit record
   * of the delivery is written (it ends when the IWF took the MMSC's .RES).
   */
  complete(d: Delivery): boolean {
    if (d.dir === 'mms-to-cpm')
      return this.uas.byToken(d.tok).length > 0 && this.mmsc.resFor(`T-M-${d.tok}`).length > 0;
    return this.mmsc.forwardsFor(d.tok).length > 0 && this.auditCount(cpmWorkflowId(`imdn-${d.tok}`)) > 0;
  }

  /** Waits for every delivery to complete (or `timeoutMs`), then counts lost and duplicated. */
  async settle(
    ds: Delivery[],
    timeoutMs: number,
  ): Promise<{ lost: Delivery[]; duplicated: { d: Delivery; why: string }[] }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && !ds.every((d) => this.complete(d))) await sleep(250);
    await sleep(1500); // late duplicates (a resend after a lost answer) arrive here
    const lost = ds.filter((d) => !this.complete(d));
    const duplicated: { d: Delivery; why: string }[] = [];
    for (const d of ds) {
      const why = this.duplicates(d);
      if (why) duplicated.push({ d, why });
    }
    return { lost, duplicated };
  }

  /**
   * A delivery is duplicated when the far peer got it in more than one transaction (copies of one
   * transaction are retransmissions, RFC 3261 §17 / the same X-Mms-Transaction-ID, 23.140 §8.4.1),
   * or the MMSC got more than one MM4_forward.RES for one request, or the audit has two records.
   */
  duplicates(d: Delivery): string | undefined {
    if (d.dir === 'mms-to-cpm') {
      const tx = this.uas.byToken(d.tok);
      const calls = new Set(tx.map((t) => `${t.callId} ${t.cseq}`));
      const imdn = new Set(tx.map((t) => t.imdnId));
      if (calls.size > 1 || imdn.size > 1)
        return `UAS saw ${tx.length} transactions (${calls.size} Call-ID/CSeq, ${imdn.size} imdn.Message-ID)`;
      const res = this.mmsc.resFor(`T-M-${d.tok}`).length;
      if (res > 1) return `MMSC got ${res} MM4_forward.RES`;
    } else {
      // A resend after the .RES wait is a new transaction of the same MM (activities/mmsc.ts mints
      // one X-Mms-Transaction-ID per attempt); a second X-Mms-Message-ID is a second MM.
      const fw = this.mmsc.forwardsFor(d.tok);
      const ids = new Set(fw.map((m) => m.messageId));
      if (ids.size > 1) return `MMSC got ${fw.length} MM4_forward.REQ with ${ids.size} distinct X-Mms-Message-IDs`;
    }
    const wf = d.dir === 'mms-to-cpm' ? mmsWorkflowId(d.tok) : cpmWorkflowId(`imdn-${d.tok}`);
    const n = this.auditCount(wf);
    if (n > 1) return `${n} audit records`;
    return undefined;
  }

  /** One MMS -> CPM delivery end to end (the health check after a group). */
  async healthy(timeoutMs = 60_000): Promise<boolean> {
    if (!alive(this.iwf.pid)) return false;
    const d: Delivery = { dir: 'mms-to-cpm', tok: token('rel-health-') };
    const sent = await this.sendMms(d.tok, timeoutMs);
    if (!sent.ok) return false;
    const r = await this.settle([d], timeoutMs);
    return r.lost.length === 0;
  }

  async stop(): Promise<void> {
    await this.connection?.close().catch(() => {});
    this.connection = undefined;
    this.client = undefined;
    await this.iwf.stop();
    await this.uas.close();
    await this.core.close();
    await this.mmsc.close();
    // RELIABILITY_KEEP=1 keeps the data dir (config, audit.jsonl, Temporal database) for a post-mortem.
    if (process.env.RELIABILITY_KEEP) console.log(`kept ${this.iwf.dir}`);
    else this.iwf.cleanup();
  }

  /** Drops the Temporal client (after the server went away), so the next call connects afresh. */
  async resetTemporal(): Promise<void> {
    await this.connection?.close().catch(() => {});
    this.connection = undefined;
    this.client = undefined;
  }
}

export interface Delivery {
  dir: 'mms-to-cpm' | 'cpm-to-mms';
  tok: string;
  /** The front-end's final answer (SMTP code / SIP status) when it was sent. */
  answer?: string;
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
