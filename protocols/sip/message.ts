/**
 * SIP message codec (RFC 3261 section 7 and the ABNF of section 25). Pure: bytes in, values out.
 * Header order and multiple values are kept as written; compact names are expanded (7.3.3).
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

/** RFC 3261 7.3.3 compact forms (plus RFC 3515 `r`, RFC 3841 `a`/`j`/`d`, RFC 4028 `x`). */
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

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_HEADERS = 200;

export function fullHeaderName(name: string): string {
  return COMPACT[name.toLowerCase()] ?? name;
}

export function getHeader(headers: SipHeader[], name: string): string | undefined {
  const want = fullHeaderName(name).toLowerCase();
  return headers.find((h) => h.name.toLowerCase() === want)?.value;
}

export function getHeaders(headers: SipHeader[], name: string): string[] {
  const want = fullHeaderName(name).toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === want).map((h) => h.value);
}

/** Replaces every occurrence of `name` with one header (appended where the first one stood). */
export function setHeader(headers: SipHeader[], name: string, value: string): SipHeader[] {
  const want = name.toLowerCase();
  const i = headers.findIndex((h) => h.name.toLowerCase() === want);
  const rest = headers.filter((h) => h.name.toLowerCase() !== want);
  if (i < 0) return [...rest, { name, value }];
  rest.splice(i, 0, { name, value });
  return rest;
}

/** Splits the head (start line + headers) from the body at the first empty line. */
export function splitHead(buf: Buffer): { head: string; body: Buffer } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return undefined;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { head: buf.subarray(0, crlf).toString('utf8'), body: buf.subarray(crlf + 4) };
  return { head: buf.subarray(0, lf).toString('utf8'), body: buf.subarray(lf + 2) };
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

/** Parses one datagram or framed stream message. Never throws. */
export function parseSipMessage(
  buf: Buffer,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): { ok: true; message: SipMessage } | { ok: false; error: string } {
  if (buf.length > maxBytes) return { ok: false, error: `message larger than ${maxBytes} bytes` };
  const parts = splitHead(buf);
  if (!parts) return { ok: false, error: 'no empty line after the headers' };
  const lines = parts.head.split(/\r?\n/);
  while (lines.length && lines[0] === '') lines.shift(); // RFC 3261 7.5: ignore leading CRLFs
  const start = lines.shift() ?? '';
  const headers: SipHeader[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1].value += ` ${line.trim()}`; // folding, RFC 3261 7.3.1
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, error: `malformed header line '${line.slice(0, 40)}'` };
    const name = line.slice(0, colon).trim();
    if (!TOKEN.test(name)) return { ok: false, error: `bad header name '${name.slice(0, 40)}'` };
    headers.push({ name: fullHeaderName(name), value: line.slice(colon + 1).trim() });
    if (headers.length > MAX_HEADERS) return { ok: false, error: 'too many headers' };
  }
  let body = parts.body;
  const cl = getHeader(headers, 'Content-Length');
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) return { ok: false, error: `bad Content-Length '${cl}'` };
    const n = Number(cl);
    if (n > body.length) return { ok: false, error: `body shorter than Content-Length ${n}` };
    body = body.subarray(0, n); // RFC 3261 18.3: extra bytes after the body are ignored
  }
  body = Buffer.from(body);

  const res = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start);
  if (res) return { ok: true, message: { kind: 'response', status: Number(res[1]), reason: res[2], headers, body } };
  const req = /^([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP\/2\.0$/.exec(start);
  if (!req) return { ok: false, error: `bad start line '${start.slice(0, 60)}'` };
  return { ok: true, message: { kind: 'request', method: req[1], uri: req[2], headers, body } };
}

/** Serializes with CRLF line ends and a Content-Length equal to the body's byte length, last. */
export function serializeSipMessage(m: SipMessage): Buffer {
  const start = m.kind === 'request' ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`;
  const lines = [start];
  for (const h of m.headers) if (h.name.toLowerCase() !== 'content-length') lines.push(`${h.name}: ${h.value}`);
  lines.push(`Content-Length: ${m.body.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'utf8'), m.body]);
}

/** Default reason phrases (RFC 3261 21, RFC 3428 for 202). */
export function statusReason(status: number): string {
  return REASONS[status] ?? (status < 200 ? 'Trying' : status < 300 ? 'OK' : 'Error');
}

const REASONS: Record<number, string> = {
  100: 'Trying',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  488: 'Not Acceptable Here',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
};
