import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * Envelope addresses without a domain, as some MMSCs send them (`MAIL FROM:<+12025550100>`,
 * `RCPT TO:<+12025550199/TYPE=PLMN>`). RFC 5321 §4.1.2 requires a domain and smtp-server refuses
 * them with 501; from an allowed MM4 peer they are qualified as the 3GPP TS 23.140 §8.4 address
 * `+E164/TYPE=PLMN@<peer domain>` before smtp-server reads the command.
 */
const BARE_ADDRESS = /^\+?(\d{3,15})(\/TYPE=PLMN)?$/i;

/**
 * `MAIL FROM:<addr> params` / `RCPT TO:<addr> params`, as smtp-server splits them
 * (smtp-connection.js `_parseAddressCommand`: name before the colon, the `<...>` token, then
 * whitespace-separated parameters). Anything else is never touched.
 */
const ADDRESS_COMMAND = /^(MAIL FROM|RCPT TO)([ \t]*:[ \t]*)<([^<>]*)>((?:[ \t].*)?)$/is;

/** Longest command line the rewriter holds back; a longer one passes through unchanged. */
export const MAX_COMMAND_LINE = 4096;

/** `+E164/TYPE=PLMN@domain` for a bare number (with or without `+` and `/TYPE=PLMN`), else undefined. */
export function qualifyBareAddress(address: string, domain: string): string | undefined {
  const m = BARE_ADDRESS.exec(address);
  return m ? `+${m[1]}/TYPE=PLMN@${domain}` : undefined;
}

/** The command line (no line terminator) with its bare envelope address qualified, or undefined. */
export function qualifyEnvelopeCommand(line: string, domain: string): string | undefined {
  const m = ADDRESS_COMMAND.exec(line);
  if (!m) return undefined;
  const qualified = qualifyBareAddress(m[3], domain);
  return qualified === undefined ? undefined : `${m[1]}${m[2]}<${qualified}>${m[4]}`;
}

/** The command name as smtp-server takes it (first space-separated word, upper case). */
const commandName = (line: string) => line.split(' ')[0].toUpperCase();

/**
 * The client-to-server byte stream of an SMTP session, with bare MAIL FROM / RCPT TO addresses
 * qualified ({@link qualifyEnvelopeCommand}) in the command phase only. It follows the phases as
 * smtp-server does (smtp-stream.js): command lines end with `\r?\n`; after a `DATA` command the
 * message passes through untouched up to the `\r\n.\r\n` terminator. When smtp-server refuses a
 * DATA (no recipient), this stays in the data phase and qualifies nothing more on the connection:
 * it errs towards the standard 501, never towards rewriting message content. No BDAT (RFC 3030):
 * smtp-server does not offer CHUNKING. A command line longer than {@link MAX_COMMAND_LINE} is passed
 * on unchanged, so nothing is buffered beyond that. After a `STARTTLS` command line (RFC 3207 4)
 * every later byte is the TLS session's and passes through untouched and unbuffered: nothing in
 * it is a command this can read, and holding bytes back for a line end would stall the handshake.
 */
export class EnvelopeQualifier extends Transform {
  /** A STARTTLS command went by: passing everything through from then on. */
  private tls = false;
  private data = false;
  /** Command phase: the line so far (latin1), held back until its end or the cap. */
  private line = '';
  /** Command phase: passing the rest of an over-long line; whether that line is DATA. */
  private longLine: false | { data: boolean } = false;
  /** Data phase: the first 3 characters of the current line, whether it ended in CR so far. */
  private head = '';
  private lastCr = false;
  /** Data phase: the current line follows a CRLF (or the data start): a lone `.` ends the data. */
  private afterCrlf = true;

  constructor(
    private readonly domain: string,
    private readonly onQualified?: (from: string, to: string) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    if (this.tls) {
      this.push(chunk);
      return cb();
    }
    const s = chunk.toString('latin1');
    const out: string[] = [];
    let i = 0;
    while (i < s.length) {
      const nl = s.indexOf('\n', i);
      const seg = nl < 0 ? s.slice(i) : s.slice(i, nl);
      i = nl < 0 ? s.length : nl + 1;
      if (this.data) {
        if (this.head.length < 3) this.head += seg.slice(0, 3 - this.head.length);
        if (seg) this.lastCr = seg.endsWith('\r');
        out.push(nl < 0 ? seg : `${seg}\n`);
        if (nl < 0) break;
        const end = this.afterCrlf && this.head === '.\r';
        this.afterCrlf = this.lastCr;
        this.head = '';
        this.lastCr = false;
        if (end) this.data = false;
        continue;
      }
      if (this.longLine) {
        out.push(nl < 0 ? seg : `${seg}\n`);
        if (nl < 0) break;
        if (this.longLine.data) this.startData();
        this.longLine = false;
        continue;
      }
      const line = this.line + seg;
      this.line = '';
      if (nl < 0) {
        if (line.length <= MAX_COMMAND_LINE) this.line = line;
        else {
          // Too long to be an envelope command: on as it is (its first word is in `line`).
          out.push(line);
          this.longLine = { data: commandName(line) === 'DATA' };
        }
        break;
      }
      const cr = line.endsWith('\r');
      const command = cr ? line.slice(0, -1) : line;
      const qualified = line.length <= MAX_COMMAND_LINE ? qualifyEnvelopeCommand(command, this.domain) : undefined;
      if (qualified !== undefined) this.onQualified?.(command, qualified);
      out.push(`${qualified ?? command}${cr ? '\r' : ''}\n`);
      if (commandName(command) === 'DATA') this.startData();
      if (commandName(command) === 'STARTTLS') {
        // Whatever follows in this chunk is not ours to read (the server drops pipelined plaintext, RFC 3207 4.2).
        this.tls = true;
        out.push(s.slice(i));
        break;
      }
    }
    if (out.length) this.push(Buffer.from(out.join(''), 'latin1'));
    cb();
  }

  override _flush(cb: TransformCallback) {
    if (this.line) this.push(Buffer.from(this.line, 'latin1'));
    this.line = '';
    cb();
  }

  private startData() {
    this.data = true;
    this.head = '';
    this.lastCr = false;
    this.afterCrlf = true;
  }
}

/**
 * A socket whose incoming bytes pass through `input` (the outgoing ones go straight to `socket`),
 * for SMTPServer.connect(): it has what SMTPConnection uses of a net.Socket (pipe/unpipe, write,
 * end, destroy, setTimeout, readyState, the addresses).
 */
export class InterposedSocket extends Duplex {
  constructor(
    readonly socket: Socket,
    private readonly input: Transform,
  ) {
    super({ allowHalfOpen: true });
    socket.pipe(input);
    input.on('data', (c: Buffer) => {
      if (!this.push(c)) input.pause();
    });
    input.on('end', () => this.push(null));
    input.on('error', (e: Error) => this.destroy(e));
    socket.on('error', (e: Error) => this.destroy(e));
    socket.on('close', () => this.destroy());
  }

  override _read() {
    this.input.resume();
  }

  override _write(chunk: Buffer, enc: BufferEncoding, cb: (e?: Error | null) => void) {
    if (this.socket.destroyed) return cb();
    if (this.socket.write(chunk, enc)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (e?: Error | null) => void) {
    this.socket.end();
    cb();
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void) {
    this.socket.destroy();
    cb(e);
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }

  get readyState() {
    return this.destroyed ? 'closed' : this.socket.readyState;
  }
  get remoteAddress() {
    return this.socket.remoteAddress;
  }
  get remotePort() {
    return this.socket.remotePort;
  }
  get localAddress() {
    return this.socket.localAddress;
  }
  get localPort() {
    return this.socket.localPort;
  }
}
