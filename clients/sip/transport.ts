import dgram from 'node:dgram';
import net from 'node:net';
import { SipStreamFramer } from '../../protocols/sip/framer.js';
import { DEFAULT_MAX_MESSAGE_BYTES, parseSipMessage, type SipMessage } from '../../protocols/sip/message.js';

export type TransportName = 'udp' | 'tcp';

export interface Remote {
  host: string;
  port: number;
}

/** Where a message came from; for TCP the connection, so the answer can go back on it. */
export interface Flow {
  transport: TransportName;
  remote: Remote;
  socket?: net.Socket;
}

export interface TransportLog {
  debug(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

const plainIp = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);
const key = (r: Remote) => `${r.host}:${r.port}`;

/** TCP connections without traffic for this long are closed (RFC 3261 18: implementation choice). */
const IDLE_MS = 120_000;

/**
 * RFC 3261 section 18 transport layer: one UDP socket and one TCP listener on the same port,
 * outbound TCP connections reused per remote address, inbound connections kept for responses.
 */
export class SipTransport {
  private udp?: dgram.Socket;
  private server?: net.Server;
  private readonly conns = new Map<string, net.Socket>();
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly o: { host: string; port: number; transports: TransportName[]; maxMessageBytes?: number; log?: TransportLog },
    private readonly onMessage: (m: SipMessage, flow: Flow) => void,
  ) {}

  async start(): Promise<void> {
    // Port 0: take the UDP port the OS gives and bind TCP to the same number (retrying on a clash).
    for (let tries = 0; ; tries++) {
      try {
        if (this.o.transports.includes('udp')) this.port = await this.bindUdp(this.o.port);
        if (this.o.transports.includes('tcp')) this.port = await this.bindTcp(this.port || this.o.port);
        return;
      } catch (e) {
        this.udp?.close();
        this.udp = undefined;
        if (this.o.port !== 0 || tries > 10 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
  }

  private bindUdp(port: number): Promise<number> {
    const sock = dgram.createSocket(net.isIPv6(this.o.host) ? 'udp6' : 'udp4');
    sock.on('message', (buf, rinfo) => {
      if (buf.length <= 4 && /^[\r\n]*$/.test(buf.toString('latin1'))) return; // keep-alive
      const parsed = parseSipMessage(buf, this.o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
      const remote = { host: plainIp(rinfo.address), port: rinfo.port };
      if (!parsed.ok) return this.o.log?.warn({ remote, error: parsed.error }, 'unparseable SIP datagram dropped');
      this.onMessage(parsed.message, { transport: 'udp', remote });
    });
    sock.on('error', (e) => this.o.log?.warn({ error: e.message }, 'SIP UDP socket error'));
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, this.o.host, () => {
        sock.off('error', reject);
        this.udp = sock;
        resolve(sock.address().port);
      });
    });
  }

  private bindTcp(port: number): Promise<number> {
    const server = net.createServer((s) => this.adopt(s));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.o.host, () => {
        server.off('error', reject);
        this.server = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Wires a TCP connection (ours or accepted) to the framer; remembers it for reuse. */
  private adopt(s: net.Socket, remoteKey?: string): void {
    const remote = { host: plainIp(s.remoteAddress ?? ''), port: s.remotePort ?? 0 };
    const k = remoteKey ?? key(remote);
    this.sockets.add(s);
    if (!this.conns.has(k)) this.conns.set(k, s);
    const framer = new SipStreamFramer(this.o.maxMessageBytes);
    s.setTimeout(IDLE_MS, () => s.destroy());
    s.on('data', (chunk) => {
      for (const m of framer.push(chunk)) this.onMessage(m, { transport: 'tcp', remote, socket: s });
      if (framer.failed) {
        this.o.log?.warn({ remote, error: framer.failed }, 'SIP TCP framing error, closing connection');
        s.destroy();
      }
    });
    s.on('error', (e) => this.o.log?.debug({ remote, error: e.message }, 'SIP TCP connection error'));
    s.on('close', () => {
      this.sockets.delete(s);
      if (this.conns.get(k) === s) this.conns.delete(k);
    });
  }

  private connect(dest: Remote): Promise<net.Socket> {
    const existing = this.conns.get(key(dest));
    if (existing && !existing.destroyed) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: dest.host, port: dest.port });
      s.once('connect', () => {
        s.off('error', reject);
        this.adopt(s, key(dest));
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  /** Sends bytes; rejects on a transport error (the transaction layer turns that into a 503). */
  async send(buf: Buffer, dest: Remote & { transport: TransportName }, socket?: net.Socket): Promise<void> {
    if (dest.transport === 'udp') {
      const udp = this.udp;
      if (!udp) throw new Error('UDP transport not enabled');
      await new Promise<void>((resolve, reject) => udp.send(buf, dest.port, dest.host, (e) => (e ? reject(e) : resolve())));
      return;
    }
    const s = socket && !socket.destroyed ? socket : await this.connect(dest);
    await new Promise<void>((resolve, reject) => s.write(buf, (e) => (e ? reject(e) : resolve())));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.conns.clear();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r())),
    ]);
  }
}
