import dgram from 'node:dgram';
import { createSipEndpoint, type OutgoingRequest } from '../../../clients/sip/endpoint.js';
import { parseSipMessage, serializeSipMessage, type SipMessage, type SipRequest } from '../../../protocols/sip/message.js';

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
  return serializeSipMessage({ kind: 'request', method: m.method, uri: m.uri, headers: [{ name: 'Via', value: via }, ...m.headers], body: m.body! });
}

/** Two endpoints on 127.0.0.1; `b` answers 202 and records what it saw. */
export async function endpointPair(timers = fastTimers) {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  const seen: { req: SipRequest; transport: string; remote: { host: string; port: number } }[] = [];
  b.onRequest((req, info) => {
    seen.push({ req, ...info });
    return { status: 202 };
  });
  return { a, b, seen, close: () => Promise.all([a.close(), b.close()]) };
}

/** A response to `req` made by hand, the way a minimal peer would. */
export function answer(req: SipRequest, status: number, reason: string): Buffer {
  const keep = ['via', 'from', 'to', 'call-id', 'cseq'];
  return serializeSipMessage({ kind: 'response', status, reason, headers: req.headers.filter((h) => keep.includes(h.name.toLowerCase())), body: Buffer.alloc(0) });
}

/** A raw UDP socket on 127.0.0.1 recording what it receives; `reply` may answer each datagram. */
export async function udpPeer(reply?: (m: SipMessage, n: number) => Buffer[] | undefined) {
  const sock = dgram.createSocket('udp4');
  const received: { at: number; raw: Buffer; message?: SipMessage }[] = [];
  sock.on('message', (raw, rinfo) => {
    const parsed = parseSipMessage(raw);
    received.push({ at: Date.now(), raw, message: parsed.ok ? parsed.message : undefined });
    if (parsed.ok) for (const out of reply?.(parsed.message, received.length) ?? []) sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    port: sock.address().port,
    received,
    send: (buf: Buffer, port: number) => new Promise<void>((r) => sock.send(buf, port, '127.0.0.1', () => r())),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
