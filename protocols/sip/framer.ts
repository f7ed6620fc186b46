import { DEFAULT_MAX_MESSAGE_BYTES, parseSipMessage, type SipMessage } from './message.js';

/**
 * Frames SIP messages on a stream transport (RFC 3261 18.3: Content-Length is mandatory there).
 * Leading CRLFs (RFC 5626 keep-alive pings) are skipped. After a framing error the stream cannot
 * be resynchronised; `failed` is set and the caller should close the connection.
 */
export class SipStreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  failed: string | undefined;
  /** Number of CRLF keep-alive pings seen (a double CRLF deserves a single CRLF pong). */
  pings = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  push(chunk: Buffer): SipMessage[] {
    if (this.failed) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: SipMessage[] = [];
    for (;;) {
      let skip = 0;
      while (skip + 1 < this.buf.length && this.buf[skip] === 13 && this.buf[skip + 1] === 10) skip += 2;
      if (skip) {
        if (skip >= 4) this.pings++;
        this.buf = this.buf.subarray(skip);
      }
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > this.maxBytes) this.failed = 'header block too large';
        return out;
      }
      const head = this.buf.subarray(0, end).toString('utf8');
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im.exec(head);
      if (!m) {
        this.failed = 'no Content-Length on a stream transport';
        return out;
      }
      const total = end + 4 + Number(m[1]);
      if (total > this.maxBytes) {
        this.failed = `message larger than ${this.maxBytes} bytes`;
        return out;
      }
      if (this.buf.length < total) return out;
      const parsed = parseSipMessage(this.buf.subarray(0, total), this.maxBytes);
      this.buf = this.buf.subarray(total);
      if (!parsed.ok) {
        this.failed = parsed.error;
        return out;
      }
      out.push(parsed.message);
    }
  }
}
