/**
 * SIP message codec (RFC 3261 section 7 and the ABNF of section 25). Pure: bytes in, values out.
 * Parsing is tolerant (LF line ends, leading CRLFs, folding, compact names); writing is strict.
 * Header order and comma-separated values are kept as written; compact names are expanded (7.3.3).
 */

export interface SipHeader {
  name: string;
  value: string;
}

export interface SipRequest {
  kind: 'request';
  method: string;
  uri: string;
  headers: SipHeader[];
  body: Buffer;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  headers: SipHeader[];
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

/**
 * A parse failure. `partial` is the message as far as it could be read (start line and the
 * well-formed headers) so a transport can still answer a broken request with 400 (RFC 3261 18.3).
 */
export interface SipParseError {
  ok: false;
  error: string;
  partial?: SipMessage;
  /** The answer a readable request gets (default 400): 505 for another SIP version (RFC 3261 8.2.1 note, 21.5.7). */
  status?: 400 | 505;
}

export type SipParseResult = { ok: true; message: SipMessage } | SipParseError;

/** RFC 3261 7.3.3 compact forms, plus RFC 3515 `r`, RFC 3841 `a`/`j`/`d`, RFC 4028 `x`, RFC 6665 `u`. */
const COMPACT: Record<string, string> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  o: 'Event',
  r: 'Refer-To',
  a: 'Accept-Contact',
  j: 'Reject-Contact',
  d: 'Request-Disposition',
  x: 'Session-Expires',
  u: 'Allow-Events',
};

/** Default bound on one message (datagram or framed stream message). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_HEADERS = 256;
/** What a response copies from its request besides Via (RFC 3261 8.2.6.2). */
const ANSWER_HEADERS = new Set(['from', 'to', 'call-id', 'cseq']);

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const STATUS_LINE = /^SIP\/2\.0[ \t]+(\d{3})(?:[ \t]+(.*))?$/i;
const REQUEST_LINE = /^([A-Za-z0-9.!%*_+`'~-]+)[ \t]+(\S+)[ \t]+SIP\/(\d{1,3}\.\d{1,3})$/i;

/** The full name for a compact one (`i` -> `Call-ID`); other names are returned unchanged. */
export function fullHeaderName(name: string): string {
  return name.length === 1 ? (COMPACT[name.toLowerCase()] ?? name) : name;
}

const sameName = (a: string, b: string) => fullHeaderName(a).toLowerCase() === fullHeaderName(b).toLowerCase();

/** The first value of a header, matched case-insensitively; compact names match their full form. */
export function getHeader(headers: SipHeader[], name: string): string | undefined {
  return headers.find((h) => sameName(h.name, name))?.value;
}

/** Every value of a header (each header line; comma lists inside a line are not split). */
export function getHeaders(headers: SipHeader[], name: string): string[] {
  return headers.filter((h) => sameName(h.name, name)).map((h) => h.value);
}

/** A copy with every occurrence of `name` replaced by one header where the first stood (else appended). */
export function setHeader(headers: SipHeader[], name: string, value: string): SipHeader[] {
  const i = headers.findIndex((h) => sameName(h.name, name));
  const rest = headers.filter((h) => !sameName(h.name, name));
  rest.splice(i < 0 ? rest.length : i, 0, { name, value });
  return rest;
}

/** Start of the body: after the first empty line (CRLF CRLF, or LF LF from lenient senders). */
function headEnd(buf: Buffer, from: number): { head: number; body: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n', from);
  const lf = buf.indexOf('\n\n', from);
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { head: crlf, body: crlf + 4 };
  if (lf >= 0) return { head: lf, body: lf + 2 };
  return undefined;
}

/**
 * Parses one datagram or one framed stream message. Never throws. With a Content-Length the body
 * is that many bytes (extra bytes are ignored, fewer is an error: RFC 3261 18.3); without one the
 * rest of the buffer is the body (datagrams only; streams are framed by SipStreamFramer).
 */
export function parseSipMessage(buf: Buffer, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): SipParseResult {
  if (buf.length > maxBytes) return { ok: false, error: `message larger than ${maxBytes} bytes` };
  let start = 0;
  while (buf[start] === 13 || buf[start] === 10) start++; // RFC 3261 7.5: ignore CRLFs before the start line
  const end = headEnd(buf, start);
  if (!end) return { ok: false, error: 'no empty line after the headers' };
  const lines = buf.subarray(start, end.head).toString('utf8').split(/\r?\n/);
  const startLine = lines[0];
  const headers: SipHeader[] = [];
  let error: string | undefined;
  /** Whether the last header line was left out (its folded continuation lines are too). */
  let skipped = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if ((line[0] === ' ' || line[0] === '\t') && headers.length) {
      if (!skipped) headers[headers.length - 1].value += ` ${line.trim()}`; // folding, RFC 3261 7.3.1
      continue;
    }
    skipped = false;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!TOKEN.test(name)) {
      error ??= `malformed header line '${line.slice(0, 40)}'`;
      continue;
    }
    if (headers.length >= MAX_HEADERS) {
      // Malformed, but still answerable: the headers a response copies (RFC 3261 8.2.6.2) are kept
      // even beyond the cap, so the 400 reaches the sender (the top Via is within the first ones).
      error ??= `more than ${MAX_HEADERS} headers`;
      if (!ANSWER_HEADERS.has(fullHeaderName(name).toLowerCase()) || headers.length >= 2 * MAX_HEADERS) {
        skipped = true;
        continue;
      }
    }
    const value = line.slice(colon + 1).trim();
    // RFC 3261 25.1: header values are TEXT-UTF8 and LWS; a control character (NUL, a bare CR)
    // is malformed, and kept out of `partial` so a 400 can still be written from the rest.
    if (CONTROL.test(value)) {
      error ??= `control character in ${fullHeaderName(name)}`;
      continue;
    }
    headers.push({ name: fullHeaderName(name), value });
  }

  let body = buf.subarray(end.body);
  const lengths = new Set(getHeaders(headers, 'Content-Length'));
  if (lengths.size > 1) error ??= 'conflicting Content-Length headers';
  const cl = [...lengths][0];
  if (cl !== undefined) {
    if (!/^\d{1,10}$/.test(cl)) error ??= `bad Content-Length '${cl.slice(0, 20)}'`;
    else if (Number(cl) > body.length) error ??= `body shorter than Content-Length ${cl}`;
    else body = body.subarray(0, Number(cl));
  }

  if (CONTROL.test(startLine)) return { ok: false, error: 'control character in the start line' };
  let message: SipMessage | undefined;
  const res = STATUS_LINE.exec(startLine);
  const req = res ? null : REQUEST_LINE.exec(startLine);
  if (res && Number(res[1]) >= 100 && Number(res[1]) <= 699) {
    message = { kind: 'response', status: Number(res[1]), reason: res[2] ?? '', headers, body: Buffer.from(body) };
  } else if (req) {
    message = { kind: 'request', method: req[1], uri: req[2], headers, body: Buffer.from(body) };
    if (req[3] !== '2.0') return { ok: false, error: `SIP/${req[3]} not supported`, partial: message, status: 505 };
  } else {
    return { ok: false, error: `bad start line '${startLine.slice(0, 60)}'` };
  }
  return error ? { ok: false, error, partial: message } : { ok: true, message };
}

const UNSAFE_VALUE = /[\r\n\0]/;
/** Control characters other than HTAB (RFC 3261 25.1 TEXT-UTF8 excludes them). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Refuses what would change the message's framing if written (header injection). */
function assertWritable(m: SipMessage): void {
  const bad = (what: string) => {
    throw new TypeError(`SIP message not serializable: ${what}`);
  };
  if (m.kind === 'request') {
    if (!TOKEN.test(m.method)) bad(`method '${m.method.slice(0, 20)}'`);
    if (!/^\S+$/.test(m.uri)) bad('Request-URI');
  } else {
    if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) bad(`status ${m.status}`);
    if (UNSAFE_VALUE.test(m.reason)) bad('reason phrase');
  }
  for (const h of m.headers) {
    if (!TOKEN.test(h.name)) bad(`header name '${h.name.slice(0, 20)}'`);
    if (UNSAFE_VALUE.test(h.value)) bad(`CR, LF or NUL in ${h.name}`);
  }
}

/**
 * Writes a message with CRLF line ends; Content-Length (the body's byte length) is written last
 * among the headers and replaces any given one. Throws a TypeError for values that cannot be
 * written safely (CR/LF in a header value, a non-token name, a status outside 100-699).
 */
export function serializeSipMessage(m: SipMessage): Buffer {
  assertWritable(m);
  const lines = [m.kind === 'request' ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`];
  for (const h of m.headers) if (!sameName(h.name, 'Content-Length')) lines.push(`${h.name}: ${h.value}`);
  lines.push(`Content-Length: ${m.body.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'utf8'), m.body]);
}
