import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';

/** An SMTP failure with the reply code when the server gave one (none: connection-level error). */
export class SmtpSendError extends Error {
  constructor(
    message: string,
    readonly responseCode?: number,
  ) {
    super(message);
    this.name = 'SmtpSendError';
  }
}

export interface SmtpClient {
  /** Sends one raw RFC 5322 message in its own SMTP transaction (MM4: one PDU per transaction). */
  send(o: { host: string; port: number; from: string; to: string[]; raw: Buffer }): Promise<void>;
  close(): void;
}

/**
 * Outbound SMTP toward MMSC peers: one pooled connection set per peer address. STARTTLS is not
 * attempted opportunistically (ignoreTLS) because MM4 peers are configured explicitly; TLS per peer
 * is a later option.
 */
export function createSmtpClient(opts: { heloName: string; timeoutMs?: number }): SmtpClient {
  const pools = new Map<string, Transporter>();
  const transport = (host: string, port: number) => {
    const key = `${host}:${port}`;
    let t = pools.get(key);
    if (!t) {
      t = nodemailer.createTransport({
        host,
        port,
        secure: false,
        ignoreTLS: true,
        pool: true,
        maxConnections: 4,
        name: opts.heloName,
        connectionTimeout: opts.timeoutMs ?? 10_000,
        greetingTimeout: opts.timeoutMs ?? 10_000,
        socketTimeout: (opts.timeoutMs ?? 10_000) * 3,
      });
      pools.set(key, t);
    }
    return t;
  };
  return {
    async send({ host, port, from, to, raw }) {
      try {
        await transport(host, port).sendMail({ envelope: { from, to }, raw });
      } catch (e) {
        const err = e as { message: string; responseCode?: number };
        throw new SmtpSendError(err.message, err.responseCode);
      }
    },
    close() {
      for (const t of pools.values()) t.close();
      pools.clear();
    },
  };
}
