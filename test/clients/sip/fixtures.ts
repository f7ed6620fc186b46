import dgram from 'node:dgram';
import { realClock, type Clock } from '../../../clients/sip/clock.js';
import { createSipEndpoint, type OutgoingRequest } from '../../../clients/sip/endpoint.js';
import { parseVia } from '../../../protocols/sip/headers.js';
import {
  getHeader,
  parseSipMessage,
  serializeSipMessage,
  type SipMessage,
  type SipRequest,
} from '../../../protocols/sip/message.js';
import { FakeClock } from './fake-clock.js';

export const quiet = { debug() {}, warn() {} };
export const fastTimers = { t1: 50, t2: 200 };
export const UTF8_BODY = Buffer.from('Grüße ✓ 你好 🙂', 'utf8');

/** A MESSAGE as an activity would hand it to sendRequest. */
export function message(id: string, body: Buffer = UTF8_BODY): OutgoingRequest {
  return {
    method: 'MESSAGE',
    uri: 'sip:bob@127.0.0.1',
    headers: [
      { name: 'From', value: `<sip:alice@example.net>;tag=a-${id}` },
      { name: 'To', value: '<sip:bob@example.net>' },
      { name: 'Call-ID', value: `call-${id}` },
      { name: 'CSeq', value: '1 MESSAGE' },
      { name: 'Content-Type', value: 'text/plain;charset=utf-8' },
    ],
    body,
  };
}

/** The same request as raw bytes with a Via of our choosing (for raw-socket peers). */
export function rawMessage(id: string, via: string): Buffer {
  const m = message(id);
  return serializeSipMessage({
    kind: 'request',
    method: m.method,
    uri: m.uri,
    headers: [{ name: 'Via', value: via }, ...m.headers],
    body: m.body!,
  });
}

/** Two endpoints on 127.0.0.1 on one fake clock (time moves only when a test advances it); `b` answers 202 and records what it saw. */
export async function endpointPair(timers = fastTimers, clock = new FakeClock()) {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet, clock });
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet, clock });
  const seen: { req: SipRequest; transport: string; remote: { host: string; port: number } }[] = [];
  b.onRequest((req, info) => {
    seen.push({ req, ...info });
    return { status: 202 };
  });
  return { a, b, seen, clock, close: () => Promise.all([a.close(), b.close()]) };
}

/** A response to `req` made by hand, the way a minimal peer would. */
export function answer(req: SipRequest, status: number, reason: string): Buffer {
  const keep = ['via', 'from', 'to', 'call-id', 'cseq'];
  return serializeSipMessage({
    kind: 'response',
    status,
    reason,
    headers: req.headers.filter((h) => keep.includes(h.name.toLowerCase())),
    body: Buffer.alloc(0),
  });
}

/** Promises that resolve once a condition holds, re-checked by `check()` on every event that may change it (no polling, no timers). */
export class Conditions {
  private readonly waiting = new Set<{ holds: () => boolean; resolve: () => void }>();

  until(holds: () => boolean): Promise<void> {
    if (holds()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.add({ holds, resolve }));
  }

  check(): void {
    for (const w of this.waiting) {
      if (!w.holds()) continue;
      this.waiting.delete(w);
      w.resolve();
    }
  }
}

/** A resolvable promise, e.g. for a handler to wait on until the test lets it answer. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const PING_BRANCH = 'flush-ping-';

/**
 * A request an endpoint answers at once and on the same socket or connection: an INVITE (501, the
 * handler is not asked) with an RFC 2543 branch (no magic cookie: no transaction, so no Timer J).
 * A socket's datagrams and a connection's bytes leave in order and loopback keeps that order, so
 * the answer coming back shows everything the endpoint sent before it has arrived.
 */
export function pingRequest(n: number, transport: 'UDP' | 'TCP', localPort: number): Buffer {
  const via = `SIP/2.0/${transport} 127.0.0.1:${localPort};branch=${PING_BRANCH}${n};rport`;
  const headers = [
    { name: 'Via', value: via },
    { name: 'From', value: `<sip:flush@127.0.0.1>;tag=flush-${n}` },
    { name: 'To', value: '<sip:flush@127.0.0.1>' },
    { name: 'Call-ID', value: `flush-${n}` },
    { name: 'CSeq', value: '1 INVITE' },
  ];
  return serializeSipMessage({
    kind: 'request',
    method: 'INVITE',
    uri: 'sip:flush@127.0.0.1',
    headers,
    body: Buffer.alloc(0),
  });
}

/** The ping number when `m` answers a pingRequest. */
export function pingAnswered(m: SipMessage): number | undefined {
  const branch = m.kind === 'response' ? parseVia(getHeader(m.headers, 'Via') ?? '')?.params.branch : undefined;
  return branch?.startsWith(PING_BRANCH) ? Number(branch.slice(PING_BRANCH.length)) : undefined;
}

/**
 * A raw UDP socket on 127.0.0.1 recording what it receives (`at`: the time on `clock`); `reply`
 * may answer each datagram. Answers to its own pings are not recorded nor passed to `reply`.
 */
export async function udpPeer(reply?: (m: SipMessage, n: number) => Buffer[] | undefined, clock: Clock = realClock) {
  const sock = dgram.createSocket('udp4');
  const received: { at: number; raw: Buffer; message?: SipMessage }[] = [];
  const pongs = new Set<number>();
  const events = new Conditions();
  sock.on('message', (raw, rinfo) => {
    const parsed = parseSipMessage(raw);
    const pong = parsed.ok ? pingAnswered(parsed.message) : undefined;
    if (pong !== undefined) pongs.add(pong);
    else {
      received.push({ at: clock.now(), raw, message: parsed.ok ? parsed.message : undefined });
      if (parsed.ok)
        for (const out of reply?.(parsed.message, received.length) ?? []) sock.send(out, rinfo.port, rinfo.address);
    }
    events.check();
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  const send = (buf: Buffer, to: number) => new Promise<void>((r) => sock.send(buf, to, '127.0.0.1', () => r()));
  let pings = 0;
  /** One ping round trip to the endpoint on `to`: whatever it sent here before has now arrived (and been answered by `reply`). */
  const flush = async (to: number) => {
    const n = ++pings;
    await send(pingRequest(n, 'UDP', port), to);
    await events.until(() => pongs.has(n));
  };
  return {
    port,
    received,
    send,
    flush,
    /** Two round trips: the second shows the endpoint has also read what `reply` sent it in answer to those datagrams. */
    settle: async (to: number) => {
      await flush(to);
      await flush(to);
    },
    /** Resolves once `n` datagrams (pings' answers aside) have arrived. */
    count: (n: number) => events.until(() => received.length >= n),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
