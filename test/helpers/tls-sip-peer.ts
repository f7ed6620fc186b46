/**
 * An independent SIP-over-TLS peer for the tests (SIPp in Debian is built without TLS): Node's
 * `tls` with SIP written and read by hand here, nothing from protocols/sip, so a framing or header
 * mistake in our code cannot be made the same way on both ends. Messages on a stream are framed
 * by Content-Length (RFC 3261 18.3).
 */
import tls from 'node:tls';

export interface RawSipMessage {
  /** The start line: `MESSAGE sips:... SIP/2.0` or `SIP/2.0 200 OK`. */
  startLine: string;
  /** Header lines as `Name: value`, in order, unfolded (this peer's own messages are never folded). */
  headers: string[];
  body: Buffer;
  raw: Buffer;
}

/** The first header value named `name` (case-insensitive; compact forms not read). */
export function header(m: RawSipMessage, name: string): string | undefined {
  const line = m.headers.find((h) => h.slice(0, h.indexOf(':')).trim().toLowerCase() === name.toLowerCase());
  return line?.slice(line.indexOf(':') + 1).trim();
}

/** Splits a byte stream into SIP messages by the blank line and Content-Length. */
export class RawSipReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): RawSipMessage[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: RawSipMessage[] = [];
    for (;;) {
      while (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10) this.buf = this.buf.subarray(2);
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const lines = this.buf.subarray(0, end).toString('utf8').split('\r\n');
      const cl = lines.find((l) => /^(content-length|l)\s*:/i.test(l));
      const len = cl ? Number(cl.split(':')[1].trim()) : 0;
      if (this.buf.length < end + 4 + len) return out;
      const raw = this.buf.subarray(0, end + 4 + len);
      out.push({ startLine: lines[0], headers: lines.slice(1), body: raw.subarray(end + 4), raw });
      this.buf = this.buf.subarray(end + 4 + len);
    }
  }
}

/** A response to `req` written by hand (RFC 3261 8.2.6): its Via, From, To (tagged), Call-ID, CSeq copied. */
export function rawResponse(req: RawSipMessage, status: number, reason: string): Buffer {
  const copy = (n: string) => req.headers.filter((h) => h.toLowerCase().startsWith(`${n.toLowerCase()}:`));
  const to = copy('To').map((h) => (/;tag=/.test(h) ? h : `${h};tag=tlspeer`));
  return Buffer.from(
    [
      `SIP/2.0 ${status} ${reason}`,
      ...copy('Via'),
      ...copy('From'),
      ...to,
      ...copy('Call-ID'),
      ...copy('CSeq'),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** A TLS server that records every SIP request and answers it with `answer`'s status on the same connection. */
export async function startTlsSipServer(o: {
  cert: string;
  key: string;
  answer?: (m: RawSipMessage) => number;
}): Promise<{ port: number; requests: RawSipMessage[]; handshakes: number; close(): Promise<void> }> {
  const requests: RawSipMessage[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const state = { handshakes: 0 };
  const server = tls.createServer({ cert: o.cert, key: o.key }, (s) => {
    state.handshakes++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const reader = new RawSipReader();
    s.on('data', (c: Buffer) => {
      for (const m of reader.push(c)) {
        if (m.startLine.startsWith('SIP/2.0')) continue;
        requests.push(m);
        const status = o.answer?.(m) ?? 200;
        s.write(rawResponse(m, status, status === 202 ? 'Accepted' : status === 200 ? 'OK' : 'Refused'));
      }
    });
  });
  server.on('tlsClientError', () => {});
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)),
  );
  return {
    port,
    requests,
    get handshakes() {
      return state.handshakes;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TLS client connection to `port` that sends raw SIP and collects what comes back on it. */
export async function connectTlsSip(o: { port: number; ca: string; localAddress?: string }): Promise<{
  socket: tls.TLSSocket;
  send(bytes: string | Buffer): void;
  next(): Promise<RawSipMessage>;
  close(): void;
}> {
  // localAddress goes on to net.connect (absent from tls.ConnectionOptions' type).
  const local = o.localAddress ? { localAddress: o.localAddress } : {};
  const socket = tls.connect({ host: '127.0.0.1', port: o.port, ca: o.ca, ...local });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const reader = new RawSipReader();
  const got: RawSipMessage[] = [];
  let waiting: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    got.push(...reader.push(c));
    waiting?.();
  });
  return {
    socket,
    send: (b) => socket.write(b),
    next: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no SIP message on the TLS connection within 10 s')), 10_000);
        const check = () => {
          const m = got.shift();
          if (!m) return;
          clearTimeout(timer);
          waiting = undefined;
          resolve(m);
        };
        waiting = check;
        check();
      }),
    close: () => socket.destroy(),
  };
}

/** A pager-mode MESSAGE written by hand, for sending over TLS (Via SIP/2.0/TLS, RFC 5630 3.1.2). */
export function rawMessage(o: {
  uri: string;
  from: string;
  to: string;
  callId: string;
  branch: string;
  viaPort: number;
  contentType: string;
  body: Buffer;
  extra?: string[];
}): Buffer {
  return Buffer.concat([
    Buffer.from(
      [
        `MESSAGE ${o.uri} SIP/2.0`,
        `Via: SIP/2.0/TLS 127.0.0.1:${o.viaPort};branch=${o.branch}`,
        'Max-Forwards: 70',
        `From: <${o.from}>;tag=tls1`,
        `To: <${o.to}>`,
        `Call-ID: ${o.callId}`,
        'CSeq: 1 MESSAGE',
        ...(o.extra ?? []),
        `Content-Type: ${o.contentType}`,
        `Content-Length: ${o.body.length}`,
        '',
        '',
      ].join('\r\n'),
    ),
    o.body,
  ]);
}
