import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { SipStreamFramer } from '../../protocols/sip/framer.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  parseSipMessage,
  type SipMessage,
  type SipParseError,
} from '../../protocols/sip/message.js';
import { realClock, type Clock } from './clock.js';

export type TransportName = 'udp' | 'tcp' | 'tls';

/** Stream transports: framed the same way (RFC 3261 18.3); TLS is TCP under a TLSSocket (26.2). */
export const isStream = (t: TransportName) => t !== 'udp';

export interface Remote {
  host: string;
  port: number;
}

/** Where a message came from; for TCP and TLS the connection, so the answer can go back on it. */
export interface Flow {
  transport: TransportName;
  remote: Remote;
  socket?: net.Socket;
}

export interface TransportLog {
  debug(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface TransportEvents {
  message(m: SipMessage, flow: Flow): void;
  /** A datagram or framed stream message that did not parse (`partial` may allow a 400). */
  invalid(e: SipParseError, flow: Flow): void;
  /** A TCP or TLS connection ended; transactions waiting on it will get no answer. */
  closed(socket: net.Socket, reason: string): void;
}

export interface TransportOptions {
  host: string;
  port: number;
  transports: TransportName[];
  maxMessageBytes?: number;
  /** Connect attempts give up after this long (the transaction's Timer F), on `clock`. */
  connectTimeoutMs: number;
  /** Local address outgoing TCP connections are bound to (the listen address, so peers see who we are). */
  sourceAddress?: string;
  /**
   * SIP over TLS (RFC 3261 26.2, RFC 5630). `listen`: a TLS listener (its own port, 5061 by
   * convention) with `cert`/`key`; outgoing TLS connections verify the server's certificate against
   * `ca` (else the system roots) for the host they connect to, as RFC 5922 4 asks.
   */
  tls?: { listen?: { host: string; port: number }; cert?: string; key?: string; ca?: string };
  /** Inbound TCP/TLS connections one source IP may hold open (sip.maxTcpConnectionsPerSource); absent: no limit. */
  maxConnectionsPerSource?: number;
  /** Default the real one. Idle connections are closed by the socket's own inactivity timer, not by this clock. */
  clock?: Clock;
  log?: TransportLog;
}

const plainIp = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);
/** Connections are reused per transport and address: a TCP one never carries what must go over TLS. */
const key = (t: TransportName, r: Remote) => `${t}:${r.host}:${r.port}`;
const onlyCrlf = (buf: Buffer) => buf.every((b) => b === 13 || b === 10);

/** TCP connections without traffic for this long are closed (RFC 3261 18 leaves it to us). */
const IDLE_MS = 120_000;

/**
 * RFC 3261 section 18 transport layer: one UDP socket and one TCP listener on the same port, an
 * optional TLS listener on its own (26.2), outbound TCP and TLS connections reused per transport
 * and remote address (connected on demand, one attempt at a time), accepted connections kept so
 * responses go back on them.
 */
export class SipTransport {
  port = 0;
  /** The TLS listener's port (0: none). */
  tlsPort = 0;
  private udp?: dgram.Socket;
  private server?: net.Server;
  private tlsServer?: tls.Server;
  private readonly conns = new Map<string, net.Socket>();
  private readonly connecting = new Map<string, Promise<net.Socket>>();
  private readonly sockets = new Set<net.Socket>();
  private readonly maxBytes: number;

  constructor(
    private readonly o: TransportOptions,
    private readonly events: TransportEvents,
  ) {
    this.maxBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  async start(): Promise<void> {
    // Port 0: take the UDP port the OS gives and bind TCP to the same number (retrying on a clash).
    for (let tries = 0; ; tries++) {
      try {
        if (this.o.transports.includes('udp')) this.port = await this.bindUdp(this.o.port);
        if (this.o.transports.includes('tcp')) this.port = await this.bindTcp(this.port || this.o.port);
        break;
      } catch (e) {
        this.udp?.close();
        this.udp = undefined;
        if (this.o.port !== 0 || tries >= 10 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
    const listen = this.o.tls?.listen;
    if (listen && this.o.transports.includes('tls')) {
      try {
        this.tlsPort = await this.bindTls(listen.host, listen.port);
      } catch (e) {
        await this.close();
        throw e;
      }
    }
  }

  private bindTls(host: string, port: number): Promise<number> {
    // The per-source limit counts TLS connections as TCP ones (both are streams a source holds open).
    const server = tls.createServer(
      { cert: this.o.tls?.cert, key: this.o.tls?.key },
      (s) => this.admitInbound(s) && this.adopt(s, 'tls'),
    );
    // A failed handshake (wrong protocol, bad certificate) ends that connection only.
    server.on('tlsClientError', (e, s) => {
      this.o.log?.debug({ remote: s.remoteAddress, error: e.message }, 'SIP TLS handshake failed');
      s.destroy();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        this.tlsServer = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private bindUdp(port: number): Promise<number> {
    const sock = dgram.createSocket(net.isIPv6(this.o.host) ? 'udp6' : 'udp4');
    sock.on('message', (buf, rinfo) => {
      if (onlyCrlf(buf)) return; // keep-alive (RFC 5626 uses STUN on UDP; bare CRLFs are noise)
      const flow: Flow = { transport: 'udp', remote: { host: plainIp(rinfo.address), port: rinfo.port } };
      const parsed = parseSipMessage(buf, this.maxBytes);
      if (parsed.ok) this.events.message(parsed.message, flow);
      else this.events.invalid(parsed, flow);
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
    const server = net.createServer((s) => this.admitInbound(s) && this.adopt(s, 'tcp'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.o.host, () => {
        server.off('error', reject);
        this.server = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Open inbound connections per source IP. */
  private readonly inboundBySource = new Map<string, number>();

  /**
   * Whether an accepted connection may stay: one source holds at most `maxConnectionsPerSource`,
   * so a looping or hostile client cannot take every descriptor. SIP has no refusal before a
   * request (RFC 3261 18.3 leaves connection management to us), so an extra one is closed at once.
   */
  private admitInbound(s: net.Socket): boolean {
    const max = this.o.maxConnectionsPerSource;
    if (!max) return true;
    const ip = plainIp(s.remoteAddress ?? '');
    const open = this.inboundBySource.get(ip) ?? 0;
    if (open >= max) {
      this.o.log?.warn({ remote: ip, open, max }, 'SIP connection refused: too many from this source');
      s.destroy();
      return false;
    }
    this.inboundBySource.set(ip, open + 1);
    s.once('close', () => {
      const left = (this.inboundBySource.get(ip) ?? 1) - 1;
      if (left > 0) this.inboundBySource.set(ip, left);
      else this.inboundBySource.delete(ip);
    });
    return true;
  }

  /**
   * Wires a TCP or TLS connection (ours or accepted) to a framer; remembers it for reuse. TLS is
   * the same stream framing over the decrypted bytes (RFC 3261 26.2: TLS is used as TCP is).
   */
  private adopt(s: net.Socket, transport: 'tcp' | 'tls', remoteKey?: string): void {
    const remote = { host: plainIp(s.remoteAddress ?? ''), port: s.remotePort ?? 0 };
    const flow: Flow = { transport, remote, socket: s };
    const k = remoteKey ?? key(transport, remote);
    this.sockets.add(s);
    if (!this.conns.get(k) || this.conns.get(k)!.destroyed) this.conns.set(k, s);
    const framer = new SipStreamFramer(this.maxBytes, (e) => this.events.invalid(e, flow));
    let pings = 0;
    let reason = 'connection closed';
    s.setTimeout(IDLE_MS, () => {
      reason = 'idle connection closed';
      s.destroy();
    });
    s.on('data', (chunk) => {
      for (const m of framer.push(chunk)) this.events.message(m, flow);
      // RFC 5626 4.4.1: each CRLF CRLF ping is answered with a CRLF pong.
      for (; pings < framer.pings; pings++) s.write('\r\n');
      if (framer.failed) {
        reason = `framing error: ${framer.failed}`;
        this.o.log?.warn({ remote, transport, error: framer.failed }, 'SIP stream framing error, closing connection');
        s.destroy();
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      reason = e.code ?? e.message;
      this.o.log?.debug({ remote, transport, error: e.message }, 'SIP stream connection error');
    });
    s.on('close', () => {
      this.sockets.delete(s);
      if (this.conns.get(k) === s) this.conns.delete(k);
      this.events.closed(s, reason);
    });
  }

  private connect(dest: Remote, transport: 'tcp' | 'tls'): Promise<net.Socket> {
    const k = key(transport, dest);
    const existing = this.conns.get(k);
    if (existing && !existing.destroyed) return Promise.resolve(existing);
    const pending = this.connecting.get(k);
    if (pending) return pending;
    const attempt = new Promise<net.Socket>((resolve, reject) => {
      const local = this.o.sourceAddress ? { localAddress: this.o.sourceAddress } : {};
      // TLS: the server's certificate is checked for the host we connect to (an IP against its IP
      // SANs; a name is also sent as SNI, RFC 6066 3, which takes no IP literal).
      const s =
        transport === 'tls'
          ? tls.connect({
              host: dest.host,
              port: dest.port,
              ...local,
              ...(net.isIP(dest.host) ? {} : { servername: dest.host }),
              ...(this.o.tls?.ca ? { ca: this.o.tls.ca } : {}),
              ...(this.o.tls?.cert && this.o.tls.key ? { cert: this.o.tls.cert, key: this.o.tls.key } : {}),
              rejectUnauthorized: true,
            })
          : net.connect({ host: dest.host, port: dest.port, ...local });
      this.sockets.add(s); // so close() also stops attempts in progress
      const clock = this.o.clock ?? realClock;
      const timer = clock.setTimeout(
        () => s.destroy(Object.assign(new Error(`connect ETIMEDOUT ${k}`), { code: 'ETIMEDOUT' })),
        this.o.connectTimeoutMs,
        { unref: true },
      );
      const failed = (e: Error) => {
        clock.clearTimeout(timer);
        this.sockets.delete(s);
        reject(e);
      };
      s.once('error', failed);
      s.once('close', () => failed(new Error(`connection to ${k} closed while connecting`)));
      s.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
        clock.clearTimeout(timer);
        s.removeAllListeners('error').removeAllListeners('close');
        this.adopt(s, transport, k);
        resolve(s);
      });
    }).finally(() => this.connecting.delete(k));
    this.connecting.set(k, attempt);
    return attempt;
  }

  /**
   * Sends bytes; over TCP or TLS on `socket` when it is still open, else on a (new) connection of
   * that transport to `dest`. Resolves with the socket used; rejects on a transport error (for TLS
   * also a handshake or certificate failure: never a fallback to TCP, RFC 3261 26.2.2).
   */
  async send(
    buf: Buffer,
    dest: Remote & { transport: TransportName },
    socket?: net.Socket,
  ): Promise<net.Socket | undefined> {
    if (dest.transport === 'udp') {
      const udp = this.udp;
      if (!udp) throw new Error('UDP transport not enabled');
      await new Promise<void>((resolve, reject) =>
        udp.send(buf, dest.port, dest.host, (e) => (e ? reject(e) : resolve())),
      );
      return undefined;
    }
    const t = dest.transport;
    if (!this.o.transports.includes(t)) throw new Error(`${t.toUpperCase()} transport not enabled`);
    const s = socket && !socket.destroyed && socket.writable ? socket : await this.connect(dest, t);
    await new Promise<void>((resolve, reject) => s.write(buf, (e) => (e ? reject(e) : resolve())));
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.conns.clear();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r())),
      new Promise<void>((r) => (this.tlsServer ? this.tlsServer.close(() => r()) : r())),
    ]);
    this.udp = undefined;
    this.server = undefined;
    this.tlsServer = undefined;
  }
}
