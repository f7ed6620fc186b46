/**
 * baresip (Debian `baresip-core`, 1.0) as a plain-text SIP client in the end-to-end tests: it sends
 * and accepts only text/plain MESSAGEs (RFC 3428) and answers anything else (message/cpim
 * included) with 415 and `Accept: text/plain` (RFC 3261 §21.4.13).
 *
 * Each instance gets its own config directory (config, accounts, contacts), registers at the
 * proxy, and is controlled over its ctrl_tcp module (netstring-framed JSON on loopback). What it
 * receives is read from its SIP trace (`-s`, on stdout): every request and response it sends or
 * receives, byte for byte, so a test sees the exact Content-Type and body, and the status
 * baresip answered with.
 *
 * Sending in baresip 1.0 goes to the "current contact" only; `send(to, text)` selects `to` among
 * the `contacts` given at start, so list every URI the test sends to there.
 *
 * Every wait is bounded; baresip runs in its own process group, killed at stop and on test-process
 * exit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpTcpPort, sleep, spawnManaged, tailLines, type ManagedChild, type SipTransport } from './kamailio.js';

export function baresipAvailable(): boolean {
  return spawnSync('baresip', ['-h'], { stdio: 'ignore', timeout: 10_000 }).error === undefined;
}

export interface BaresipOptions {
  /** Its own loopback address, e.g. 127.0.0.23. */
  host: string;
  /** AoR: a sip URI, or a user part (then sip:user@<proxy host>). */
  user: string;
  /** The proxy (Kamailio). */
  proxy: { host: string; port: number } | string;
  transport?: SipTransport;
  /** URIs it can send to (baresip 1.0 sends only to a contact of its list). */
  contacts?: string[];
  /** Registration interval in s (default 600). */
  regint?: number;
  /** Bound on the start (default 15 s). */
  startTimeoutMs?: number;
}

/** One SIP message from baresip's trace. */
export interface TracedSip {
  direction: 'in' | 'out';
  transport: string;
  src: string;
  dst: string;
  startLine: string;
  method?: string;
  status?: number;
  headers: Array<[string, string]>;
  /** The first value of header `name` (case-insensitive; compact forms c, f, t, i, l understood). */
  header(name: string): string | undefined;
  /** The body, decoded as UTF-8. */
  body: string;
  /** The body's bytes. */
  bodyBytes: Buffer;
}

export interface BaresipMessage {
  from: string | undefined;
  to: string | undefined;
  requestUri: string;
  contentType: string | undefined;
  text: string;
  callId: string | undefined;
  /** The status baresip answered with (200, or 415 for anything but text/plain). */
  status: number;
  request: TracedSip;
}

export interface Baresip {
  host: string;
  port: number;
  aor: string;
  dir: string;
  /** Every SIP message sent or received so far. */
  trace: TracedSip[];
  /** Waits until the registration at the proxy is OK (default 10 s). */
  register(timeoutMs?: number): Promise<void>;
  /** The first received MESSAGE (from `since`) matching `predicate`, once baresip has answered it. */
  waitForMessage(
    predicate?: (m: BaresipMessage) => boolean,
    o?: { timeoutMs?: number; since?: number },
  ): Promise<BaresipMessage>;
  /** Received MESSAGEs that baresip has answered. */
  messages(): BaresipMessage[];
  /** Sends a text/plain MESSAGE to `to` (one of `contacts`); resolves with the final response. */
  send(to: string, text: string, timeoutMs?: number): Promise<{ callId: string; status: number; reason: string }>;
  /** Runs a ctrl_tcp command; resolves with its output. */
  command(command: string, params?: string, timeoutMs?: number): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

const START = '\x1b[36;1m#\n';
const END = '\x1b[;m\n';
const COMPACT: Record<string, string> = {
  c: 'content-type',
  f: 'from',
  t: 'to',
  i: 'call-id',
  l: 'content-length',
  v: 'via',
  m: 'contact',
};

function parseTraceBlock(block: string, self: string): TracedSip | undefined {
  // block (latin1, one char per byte): "UDP src -> dst\n<message>"
  const nl = block.indexOf('\n');
  const m = /^(\S+) (\S+) -> (\S+)$/.exec(block.slice(0, nl));
  if (!m) return undefined;
  const raw = block.slice(nl + 1);
  const sep = raw.indexOf('\r\n\r\n');
  const head = sep >= 0 ? raw.slice(0, sep) : raw;
  const bodyBytes = Buffer.from(sep >= 0 ? raw.slice(sep + 4) : '', 'latin1');
  const lines = head.split('\r\n');
  const startLine = lines[0];
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && headers.length) headers[headers.length - 1][1] += ` ${line.trim()}`;
    else {
      const c = line.indexOf(':');
      if (c > 0)
        headers.push([line.slice(0, c).trim(), Buffer.from(line.slice(c + 1).trim(), 'latin1').toString('utf8')]);
    }
  }
  const status = /^SIP\/2\.0 (\d{3})/.exec(startLine);
  const norm = (n: string) => COMPACT[n.toLowerCase()] ?? n.toLowerCase();
  // The direction from the top Via (RFC 3261 §8.1.1.7, §18.2.2), not from the addresses: baresip's
  // own TCP connections leave from 127.0.0.1 on an ephemeral port, whatever sip_listen says.
  const topVia = headers.find(([n]) => norm(n) === 'via')?.[1].split(',')[0] ?? '';
  const ours = /^SIP\/2\.0\/\w+\s+([^;\s]+)/i.exec(topVia)?.[1] === self;
  const direction: 'in' | 'out' = status ? (ours ? 'in' : 'out') : ours ? 'out' : 'in';
  return {
    direction,
    transport: m[1],
    src: m[2],
    dst: m[3],
    startLine: Buffer.from(startLine, 'latin1').toString('utf8'),
    method: status ? undefined : startLine.split(' ')[0],
    status: status ? Number(status[1]) : undefined,
    headers,
    header: (name) => headers.find(([n]) => norm(n) === norm(name))?.[1],
    body: bodyBytes.toString('utf8'),
    bodyBytes,
  };
}

const cseqOf = (s: TracedSip) => s.header('CSeq')?.replace(/\s+/g, ' ');

async function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A SIP port free for UDP and TCP, with port+1 free for TCP too (baresip binds TLS there). */
async function baresipPort(host: string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freeUdpTcpPort(host);
    if (p >= 65535) continue;
    const tlsFree = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p + 1, host, () => s.close(() => resolve(true)));
    });
    if (tlsFree) return p;
  }
  throw new Error(`no port pair free for baresip on ${host}`);
}

export async function startBaresip(o: BaresipOptions): Promise<Baresip> {
  // The ports chosen here can be taken before baresip binds them: then try others.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startBaresipOnce(o);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function startBaresipOnce(o: BaresipOptions): Promise<Baresip> {
  const proxy = typeof o.proxy === 'string' ? o.proxy : `${o.proxy.host}:${o.proxy.port}`;
  const aor = /^sips?:/.test(o.user) ? o.user : `sip:${o.user}@${proxy.replace(/:\d+$/, '')}`;
  const transport = o.transport ?? 'udp';
  const dir = mkdtempSync(join(tmpdir(), 'baresip-'));
  const port = await baresipPort(o.host);
  const ctrlPort = await freeTcpPort(o.host);
  const self = `${o.host}:${port}`;

  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen ${self}`,
      'module_path /usr/lib/baresip/modules',
      // account: the accounts file; contact: the contact list and the "message" command;
      // menu: the MESSAGE listener (without one, baresip does not answer 200); ctrl_tcp: control.
      'module_app account.so',
      'module_app contact.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen ${o.host}:${ctrlPort}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'accounts'),
    `<${aor}>;regint=${o.regint ?? 600};outbound="sip:${proxy};transport=${transport}"\n`,
  );
  writeFileSync(join(dir, 'contacts'), (o.contacts ?? []).map((c) => `<${c}>\n`).join(''));

  const trace: TracedSip[] = [];
  const listeners = new Set<() => void>();
  let pending = '';
  let screen = '';
  const onStdout = (d: Buffer) => {
    pending += d.toString('latin1');
    for (;;) {
      const s = pending.indexOf(START);
      if (s < 0) {
        screen = (screen + pending).slice(-65_536);
        pending = '';
        break;
      }
      const e = pending.indexOf(END, s + START.length);
      if (e < 0) {
        screen = (screen + pending.slice(0, s)).slice(-65_536);
        pending = pending.slice(s);
        break;
      }
      screen = (screen + pending.slice(0, s)).slice(-65_536);
      const msg = parseTraceBlock(pending.slice(s + START.length, e), self);
      if (msg) trace.push(msg);
      pending = pending.slice(e + END.length);
    }
    for (const l of [...listeners]) l();
  };

  // stdbuf: baresip prints its trace with stdio, fully buffered into a pipe otherwise.
  const proc: ManagedChild = spawnManaged('stdbuf', ['-o0', '-e0', 'baresip', '-f', dir, '-s'], { cwd: dir, onStdout });
  proc.child.once('exit', () => listeners.forEach((l) => l()));
  const diag = () =>
    `baresip ${proc.exited() ? proc.exitInfo() : 'running'}; screen:\n${tailLines(screen.replace(/\x1b\[[0-9;]*m/g, ''), 25)}\nstderr:\n${tailLines(proc.output(), 15)}`;

  function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (proc.exited()) {
          done();
          reject(new Error(`baresip ${aor}: exited while waiting for ${what}\n${diag()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`baresip ${aor}: timed out after ${timeoutMs} ms waiting for ${what}\n${diag()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  // ---- ctrl_tcp
  let sock: Socket | undefined;
  let inbuf = Buffer.alloc(0);
  const replies = new Map<string, (r: { ok: boolean; data: string }) => void>();
  const onCtrl = (d: Buffer) => {
    inbuf = Buffer.concat([inbuf, d]);
    for (;;) {
      const colon = inbuf.indexOf(0x3a);
      if (colon < 0) break;
      const len = Number(inbuf.subarray(0, colon).toString());
      if (!Number.isFinite(len) || inbuf.length < colon + 1 + len + 1) break;
      const payload = inbuf.subarray(colon + 1, colon + 1 + len).toString('utf8');
      inbuf = inbuf.subarray(colon + 1 + len + 1);
      try {
        const j = JSON.parse(payload) as { response?: boolean; ok?: boolean; data?: string; token?: string };
        if (j.response && j.token) replies.get(j.token)?.({ ok: Boolean(j.ok), data: j.data ?? '' });
      } catch {
        /* an event we cannot parse: ignored */
      }
    }
  };
  let tokenSeq = 0;
  async function command(cmd: string, params?: string, timeoutMs = 5000): Promise<string> {
    if (!sock) throw new Error(`baresip ${aor}: ctrl_tcp not connected`);
    const token = `t${++tokenSeq}`;
    const j = JSON.stringify(params === undefined ? { command: cmd, token } : { command: cmd, params, token });
    const reply = new Promise<{ ok: boolean; data: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        replies.delete(token);
        reject(new Error(`baresip ${aor}: no ctrl_tcp reply to "${cmd}" within ${timeoutMs} ms\n${diag()}`));
      }, timeoutMs);
      replies.set(token, (r) => {
        clearTimeout(timer);
        replies.delete(token);
        resolve(r);
      });
    });
    sock.write(`${Buffer.byteLength(j)}:${j},`);
    const r = await reply;
    if (!r.ok) throw new Error(`baresip ${aor}: "${cmd}" failed: ${r.data}`);
    return r.data;
  }

  const stop = async () => {
    sock?.destroy();
    await proc.stop(2000);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const end = Date.now() + (o.startTimeoutMs ?? 15_000);
    while (!sock) {
      if (proc.exited()) throw new Error(`baresip ${aor}: exited during start\n${diag()}`);
      if (/Address already in use/.test(screen + proc.output()))
        throw new Error(`baresip ${aor}: a port was taken (Address already in use)\n${diag()}`);
      if (Date.now() > end)
        throw new Error(
          `baresip ${aor}: ctrl_tcp ${o.host}:${ctrlPort} not reachable within ${o.startTimeoutMs ?? 15_000} ms\n${diag()}`,
        );
      sock = await new Promise<Socket | undefined>((resolve) => {
        const s = connect({ host: o.host, port: ctrlPort });
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
      if (!sock) await sleep(100);
    }
    sock.on('data', onCtrl);
    sock.on('error', () => {
      /* baresip gone; waits report it */
    });
  } catch (e) {
    await stop();
    throw e;
  }

  const answered = (req: TracedSip): BaresipMessage | undefined => {
    const callId = req.header('Call-ID');
    const resp = trace.find(
      (r) =>
        r.direction === 'out' &&
        r.status !== undefined &&
        r.status >= 200 &&
        r.header('Call-ID') === callId &&
        cseqOf(r) === cseqOf(req),
    );
    if (!resp) return undefined;
    return {
      from: req.header('From'),
      to: req.header('To'),
      requestUri: req.startLine.split(' ')[1],
      contentType: req.header('Content-Type'),
      text: req.body,
      callId,
      status: resp.status!,
      request: req,
    };
  };
  const incoming = (since = 0) => trace.slice(since).filter((m) => m.direction === 'in' && m.method === 'MESSAGE');

  let current: string | undefined = o.contacts?.[0];
  const sameUri = (a: string, b: string) =>
    a.replace(/^<|>$/g, '').toLowerCase() === b.replace(/^<|>$/g, '').toLowerCase();

  return {
    host: o.host,
    port,
    aor,
    dir,
    trace,
    async register(timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const info = await command('reginfo');
        if (/\bOK\b/.test(info.replace(/\x1b\[[0-9;]*m/g, ''))) return;
        if (Date.now() > end)
          throw new Error(
            `baresip ${aor}: not registered at ${proxy}/${transport} within ${timeoutMs} ms: ${info}\n${diag()}`,
          );
        await sleep(200);
      }
    },
    waitForMessage(predicate = () => true, w = {}) {
      return until(
        'a MESSAGE',
        () => {
          for (const req of incoming(w.since)) {
            const m = answered(req);
            if (m && predicate(m)) return m;
          }
          return undefined;
        },
        w.timeoutMs ?? 15_000,
      );
    },
    messages: () =>
      incoming()
        .map(answered)
        .filter((m): m is BaresipMessage => m !== undefined),
    async send(to, text, timeoutMs = 10_000) {
      const contacts = o.contacts ?? [];
      if (!contacts.some((c) => sameUri(c, to)))
        throw new Error(`baresip ${aor}: ${to} is not in its contacts (${contacts.join(', ')})`);
      if (Buffer.byteLength(text) > 900) throw new Error('baresip 1.0 commands are limited to about 1000 bytes');
      // Walk to the head of the contact list, then forward to `to`.
      if (!current || !sameUri(current, to)) {
        for (let i = 0; i < contacts.length; i++) await command('contact_prev');
        for (let i = 0; i <= contacts.length; i++) {
          const out = await command(i > 0 ? 'contact_next' : 'contact_prev');
          const m = /Current contact:.*<([^>]*)>/.exec(out);
          if (m && sameUri(m[1], to)) break;
          if (i === contacts.length) throw new Error(`baresip ${aor}: could not select contact ${to}: ${out}`);
        }
        current = to;
      }
      const since = trace.length;
      await command('message', text);
      const req = await until(
        `the MESSAGE to ${to}`,
        () => trace.slice(since).find((m) => m.direction === 'out' && m.method === 'MESSAGE'),
        timeoutMs,
      );
      const callId = req.header('Call-ID')!;
      const resp = await until(
        `the final response to the MESSAGE to ${to}`,
        () =>
          trace
            .slice(since)
            .find(
              (m) =>
                m.direction === 'in' && m.status !== undefined && m.status >= 200 && m.header('Call-ID') === callId,
            ),
        timeoutMs,
      );
      return { callId, status: resp.status!, reason: resp.startLine.split(' ').slice(2).join(' ') };
    },
    command,
    log: diag,
    stop,
  };
}
