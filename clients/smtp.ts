import net from 'node:net';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type { Mm4PeerTls } from '../model/peer.js';
import { isMailbox } from '../protocols/mm4/serialize.js';

/** An SMTP failure with the reply code when the server gave one (none: connection-level error). */
export class SmtpSendError extends Error {
  constructor(
    message: string,
    readonly responseCode?: number,
    readonly more: {
      /** The command the server refused (`MAIL FROM`, `RCPT TO`, `DATA`), when known. */
      command?: string;
      /** nodemailer's error code (`EENVELOPE`, `EMESSAGE`, `ECONNECTION`, ...). */
      code?: string;
      /** The server's reply line. */
      response?: string;
    } = {},
  ) {
    super(message);
    this.name = 'SmtpSendError';
  }

  /**
   * The peer refused the message for its size: 552 to MAIL FROM ... SIZE= or after DATA (RFC 1870
   * 6, RFC 5321 4.2.3; not at RCPT TO, where 552 historically meant too many recipients, RFC 5321
   * 4.5.3.1.10), the enhanced code 5.3.4 (RFC 3463), or the client's own check against the
   * advertised SIZE, which refuses before sending.
   */
  get sizeRefused(): boolean {
    if (/^5\d\d[ -]5\.3\.4\b/.test(this.more.response ?? '')) return true;
    if (this.responseCode === 552) return this.more.command !== 'RCPT TO';
    return (
      this.responseCode === undefined && this.more.code === 'EMESSAGE' && /size larger than allowed/i.test(this.message)
    );
  }
}

/** An envelope address that is not a mailbox: never handed to SMTP (nodemailer splits on `;` and `,`). */
export class SmtpEnvelopeError extends Error {
  constructor(readonly address: string) {
    super(`SMTP envelope: '${address.slice(0, 80)}' is not a mailbox with a domain (RFC 5321 4.1.2)`);
    this.name = 'SmtpEnvelopeError';
  }
}

/** What a peer's EHLO reply advertised (RFC 5321 4.1.1.1), read by a short probe and cached per peer. */
export interface SmtpCapabilities {
  /** RFC 1870 SIZE: the largest message the peer takes, in bytes as sent; undefined: no fixed limit advertised. */
  sizeLimit?: number;
  /** RFC 6152 8BITMIME: 8bit bodies may be sent (with BODY=8BITMIME). */
  eightBitMime: boolean;
  /** RFC 3030 BINARYMIME (with CHUNKING): reported only; this client sends no BDAT, so never binary bodies. */
  binaryMime: boolean;
  chunking: boolean;
  /** The EHLO keywords with their parameters, as advertised (`SIZE 1048576`, `8BITMIME`, ...). */
  extensions: string[];
  /** False when the probe failed (peer unreachable, no EHLO): nothing is known, nothing advertised is assumed. */
  known: boolean;
  /** When it was read (epoch ms). */
  at: number;
}

export interface SmtpClient {
  /**
   * Sends one raw RFC 5322 message in its own SMTP transaction (MM4: one PDU per transaction), with
   * SIZE=<bytes> (RFC 1870) and, for `body: '8bitmime'`, BODY=8BITMIME (RFC 6152) when the peer
   * advertises them. Every envelope address must be a mailbox ({@link SmtpEnvelopeError}).
   */
  send(o: {
    host: string;
    port: number;
    from: string;
    to: string[];
    raw: Buffer;
    body?: '7bit' | '8bitmime';
  }): Promise<void>;
  /** The peer's EHLO extensions, cached for `capabilitiesTtlMs`; `fresh` probes again (after a 552). */
  capabilities(peer: { host: string; port: number }, o?: { fresh?: boolean }): Promise<SmtpCapabilities>;
  close(): void;
}

/** Reads the peer's EHLO reply: greeting, EHLO, QUIT (RFC 5321 4.1.1.1, 4.1.1.10); the lines after the first. */
function probeEhlo(host: string, port: number, name: string, timeoutMs: number): Promise<string[] | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = '';
    let reply: string[] = [];
    let greeted = false;
    let settled = false;
    const finish = (err: Error | undefined, lines?: string[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      if (err) socket.destroy();
      else {
        socket.end('QUIT\r\n');
        setTimeout(() => socket.destroy(), 1000).unref();
      }
      if (err) reject(err);
      else resolve(lines);
    };
    const timer = setTimeout(() => finish(new Error(`EHLO probe of ${host}:${port} timed out`)), timeoutMs);
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`EHLO probe of ${host}:${port}: connection closed`)));
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (buf.length > 64 * 1024) return finish(new Error(`EHLO probe of ${host}:${port}: reply too long`));
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        reply.push(line);
        if (/^\d{3}-/.test(line)) continue; // a multiline reply goes on (RFC 5321 4.2.1)
        const code = Number(line.slice(0, 3));
        const lines = reply;
        reply = [];
        if (!greeted) {
          if (code !== 220) return finish(new Error(`EHLO probe of ${host}:${port}: greeting '${line.slice(0, 80)}'`));
          greeted = true;
          socket.write(`EHLO ${name}\r\n`);
        } else return finish(undefined, code === 250 ? lines.slice(1).map((l) => l.slice(4).trim()) : []); // no ESMTP
      }
    });
  });
}

/** The capabilities an EHLO reply's extension lines advertise. */
export function parseEhloExtensions(lines: string[] | undefined, at = Date.now()): SmtpCapabilities {
  const ext = (lines ?? []).filter(Boolean);
  const has = (k: string) => ext.some((l) => l.split(/\s+/)[0].toUpperCase() === k);
  const size = ext.find((l) => /^SIZE(\s|$)/i.test(l))?.split(/\s+/)[1];
  // RFC 1870 4: SIZE 0 (or none) means no fixed maximum.
  const sizeLimit = size && /^\d{1,20}$/.test(size) && Number(size) > 0 ? Number(size) : undefined;
  return {
    ...(sizeLimit ? { sizeLimit } : {}),
    eightBitMime: has('8BITMIME'),
    binaryMime: has('BINARYMIME'),
    chunking: has('CHUNKING'),
    extensions: ext,
    known: lines !== undefined,
    at,
  };
}

/**
 * nodemailer's STARTTLS options (RFC 3207) for a peer's `tls` policy:
 * - `none`: never upgraded (ignoreTLS), whatever the peer offers.
 * - `optional` (the default): upgraded when the peer offers STARTTLS, cleartext when it does not or
 *   refuses it (opportunisticTLS). Its certificate is verified only against a configured `ca`:
 *   MM4 peers sit on private interconnects (GRX/IPX, VPNs) with certificates no public root
 *   signs, and RFC 3207 4.1 leaves it to the client whether to go on with an unauthenticated
 *   server; encrypting without authenticating still beats cleartext against a passive listener.
 * - `required`: STARTTLS always (requireTLS) and the certificate verified (against `ca`, else the
 *   system roots), or nothing is sent: no cleartext fallback.
 */
export function tlsTransportOptions(t: Mm4PeerTls | undefined) {
  const mode = t?.mode ?? 'optional';
  if (mode === 'none') return { ignoreTLS: true };
  const tls = {
    ...(t?.ca ? { ca: t.ca } : {}),
    ...(t?.clientCert && t.clientKey ? { cert: t.clientCert, key: t.clientKey } : {}),
    rejectUnauthorized: mode === 'required' || t?.ca !== undefined,
  };
  return mode === 'required' ? { requireTLS: true, tls } : { opportunisticTLS: true, tls };
}

/**
 * Outbound SMTP toward MMSC peers: one pooled connection set per peer address, with STARTTLS as
 * the peer's `tls` policy says ({@link tlsTransportOptions}). A TLS failure (STARTTLS refused by a
 * `required` peer, a handshake or certificate error) is reported without a reply code, so it is
 * retried as a connection failure is, never taken as the peer's 5xx refusal of the message. The
 * pool does not expose what EHLO said, so {@link SmtpClient.capabilities} reads it with a short
 * probe of its own, cached per peer; that probe stays in cleartext (it sends no mail, and what it
 * reads, SIZE and 8BITMIME, only shapes the PDU: the send's own EHLO inside TLS is what counts).
 */
export function createSmtpClient(opts: {
  heloName: string;
  /** The TLS policy toward the peer at this SMTP address; undefined: `optional` with nothing pinned. */
  tls?: (peer: { host: string; port: number }) => Mm4PeerTls | undefined;
  timeoutMs?: number;
  /** How long a peer's EHLO capabilities are reused (default 5 minutes). */
  capabilitiesTtlMs?: number;
}): SmtpClient {
  const pools = new Map<string, Transporter>();
  const caps = new Map<string, { until: number; value: Promise<SmtpCapabilities> }>();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const ttl = opts.capabilitiesTtlMs ?? 5 * 60_000;
  const transport = (host: string, port: number) => {
    const key = `${host}:${port}`;
    let t = pools.get(key);
    if (!t) {
      t = nodemailer.createTransport({
        host,
        port,
        secure: false,
        ...tlsTransportOptions(opts.tls?.({ host, port })),
        pool: true,
        maxConnections: 4,
        name: opts.heloName,
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs * 3,
      });
      pools.set(key, t);
    }
    return t;
  };
  return {
    async send({ host, port, from, to, raw, body }) {
      for (const a of [from, ...to]) if (!isMailbox(a)) throw new SmtpEnvelopeError(a);
      try {
        // size: nodemailer sends SIZE= when advertised and refuses itself above the advertised SIZE.
        await transport(host, port).sendMail({
          envelope: { from, to, size: raw.length, use8BitMime: body === '8bitmime' },
          raw,
        });
      } catch (e) {
        const err = e as { message: string; responseCode?: number; command?: string; code?: string; response?: string };
        // A refused STARTTLS (even with a 5xx) is the session's failure, not a verdict on the message: retryable.
        const tlsFailure = err.code === 'ETLS';
        throw new SmtpSendError(err.message, tlsFailure ? undefined : err.responseCode, {
          command: err.command,
          code: err.code,
          response: err.response,
        });
      }
    },
    capabilities({ host, port }, o = {}) {
      const key = `${host}:${port}`;
      const hit = caps.get(key);
      if (hit && !o.fresh && hit.until > Date.now()) return hit.value;
      const entry = { until: Date.now() + ttl, value: Promise.resolve(parseEhloExtensions(undefined)) };
      entry.value = probeEhlo(host, port, opts.heloName, timeoutMs).then(
        (lines) => parseEhloExtensions(lines),
        () => {
          if (caps.get(key) === entry) caps.delete(key); // an unreachable peer is asked again next time
          return parseEhloExtensions(undefined);
        },
      );
      caps.set(key, entry);
      return entry.value;
    },
    close() {
      for (const t of pools.values()) t.close();
      pools.clear();
      caps.clear();
    },
  };
}
