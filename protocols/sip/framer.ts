import { DEFAULT_MAX_MESSAGE_BYTES, parseSipMessage, type SipMessage, type SipParseError } from './message.js';

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$/gim;

/**
 * Frames SIP messages on a stream transport by Content-Length (RFC 3261 18.3: mandatory there).
 * CRLFs between messages are skipped; each CRLF CRLF is an RFC 5626 (4.4.1) keep-alive ping,
 * counted in `pings` so the transport can answer with a CRLF pong. A message that frames but does
 * not parse goes to `onInvalid` and the stream continues; a framing error (no or bad
 * Content-Length, a message over `maxBytes`) sets `failed`: the stream cannot be resynchronised,
 * so the caller closes the connection.
 */
export class SipStreamFramer {
  /** Why framing stopped; once set, `push` returns nothing. */
  failed: string | undefined;
  /** Keep-alive pings (CRLF CRLF) seen so far. */
  pings = 0;
  private buf = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** Where to resume looking for the end of the head, so a slowly arriving head is scanned once. */
  private scanned = 0;
  private crlfs = 0;

  constructor(
    private readonly maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
    private readonly onInvalid?: (e: SipParseError) => void,
  ) {}

  /** Appends received bytes; returns the messages they completed. */
  push(chunk: Buffer): SipMessage[] {
    if (this.failed) return [];
    this.append(chunk);
    const out: SipMessage[] = [];
    for (;;) {
      this.skipKeepAlives();
      if (this.end - this.start < 2) return out; // nothing, or a lone CR/LF that may begin a CRLF
      const head = this.buf.subarray(0, this.end).indexOf('\r\n\r\n', this.scanned);
      if (head < 0) {
        if (this.end - this.start > this.maxBytes) return this.fail('header block too large', out);
        this.scanned = Math.max(this.start, this.end - 3);
        return out;
      }
      const length = this.contentLength(this.buf.toString('latin1', this.start, head));
      if (typeof length === 'string') return this.fail(length, out);
      const total = head + 4 + length - this.start;
      if (total > this.maxBytes) return this.fail(`message larger than ${this.maxBytes} bytes`, out);
      if (this.end - this.start < total) {
        this.scanned = head; // the head is complete; wait for the body
        return out;
      }
      const parsed = parseSipMessage(this.buf.subarray(this.start, this.start + total), this.maxBytes);
      this.start += total;
      this.scanned = this.start;
      this.crlfs = 0;
      if (parsed.ok) out.push(parsed.message);
      else this.onInvalid?.(parsed);
    }
  }

  private contentLength(head: string): number | string {
    const values = new Set([...head.matchAll(CONTENT_LENGTH)].map((m) => m[1]));
    if (values.size === 0) return 'no Content-Length on a stream transport';
    if (values.size > 1) return 'conflicting Content-Length headers';
    const v = [...values][0];
    return /^\d{1,10}$/.test(v) ? Number(v) : `bad Content-Length '${v.slice(0, 20)}'`;
  }

  private skipKeepAlives(): void {
    while (this.end - this.start >= 2 && this.buf[this.start] === 13 && this.buf[this.start + 1] === 10) {
      this.start += 2;
      if (++this.crlfs % 2 === 0) this.pings++;
    }
    this.scanned = Math.max(this.scanned, this.start);
  }

  /** Growable buffer: amortised appends, so a head arriving byte by byte costs O(n), not O(n^2). */
  private append(chunk: Buffer): void {
    if (this.start === this.end) this.start = this.end = this.scanned = 0;
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const next = Buffer.allocUnsafe(Math.max(2 * (live + chunk.length), 4096));
      this.buf.copy(next, 0, this.start, this.end);
      this.scanned -= this.start;
      this.start = 0;
      this.end = live;
      this.buf = next;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  private fail(reason: string, out: SipMessage[]): SipMessage[] {
    this.failed = reason;
    this.buf = Buffer.alloc(0);
    this.start = this.end = this.scanned = 0;
    return out;
  }
}
