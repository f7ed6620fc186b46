import { createHash } from 'node:crypto';
import {
  decodeCharset,
  decodeText,
  formatParameterized,
  getHeader,
  headerLine,
  parseContentType,
  parseHeaderBlock,
  printable,
  type HeaderField,
} from './headers.js';

/** A MIME entity (RFC 2045/2046) with its body transfer-decoded; multiparts carry their parts. */
export interface MimeEntity {
  headers: HeaderField[];
  mediaType: string;
  params: Record<string, string>;
  body: Buffer;
  parts?: MimeEntity[];
  /**
   * Set when the entity cannot be read faithfully: a broken transfer encoding (e.g. invalid base64;
   * `body` is then best effort), a text/plain charset nobody knows (named), or a multipart whose
   * boundary is missing or never appears in its body (RFC 2046 5.1.1; it then has no `parts`).
   */
  decodeError?: string;
}

const MAX_DEPTH = 8;
const MAX_PARTS = 200;

/** Splits at the first empty line (CRLF CRLF, or LF LF from lenient senders). */
export function splitHeaderBody(raw: Buffer): { headerText: string; body: Buffer } {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return { headerText: raw.toString('utf8'), body: Buffer.alloc(0) };
  const useCrlf = crlf >= 0 && (lf < 0 || crlf < lf);
  const at = useCrlf ? crlf : lf;
  // Header bytes: UTF-8 is allowed (RFC 6532); latin1 would mangle it.
  return { headerText: raw.subarray(0, at).toString('utf8'), body: raw.subarray(at + (useCrlf ? 4 : 2)) };
}

/** RFC 2045 6.7 quoted-printable. */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const s = input.toString('latin1').replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

/** RFC 2045 6.8: only the base64 alphabet, padding at the end, whole quanta (missing padding tolerated). */
function checkBase64(text: string): string | undefined {
  const compact = text.replace(/[\r\n\t ]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return 'invalid characters in base64 content';
  if (compact.replace(/=+$/, '').length % 4 === 1) return 'truncated base64 content';
  return undefined;
}

function transferDecode(body: Buffer, encoding: string | undefined): { body: Buffer; decodeError?: string } {
  switch ((encoding ?? '7bit').trim().toLowerCase()) {
    case 'base64': {
      const text = body.toString('latin1');
      const decodeError = checkBase64(text);
      return {
        body: Buffer.from(text.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'),
        ...(decodeError ? { decodeError } : {}),
      };
    }
    case 'quoted-printable':
      return { body: decodeQuotedPrintable(body) };
    default:
      return { body: Buffer.from(body) };
  }
}

/**
 * The next delimiter line of `boundary` at or after `from` (RFC 2046 5.1.1): `--boundary` at the
 * start of the body or of a line, then `--` for the close delimiter, then only linear whitespace
 * up to the line end (or the end of the body). `--boundary` anywhere else, mid-line or followed by
 * other characters, is content. `at` is where the line starts, `after` where the next line does.
 */
function nextDelimiter(
  body: Buffer,
  delim: Buffer,
  from: number,
): { at: number; after: number; close: boolean } | undefined {
  for (let pos = body.indexOf(delim, from); pos >= 0; pos = body.indexOf(delim, pos + 1)) {
    if (pos > 0 && body[pos - 1] !== 10) continue; // not at a line start (LF alone tolerated)
    let i = pos + delim.length;
    const close = body[i] === 45 && body[i + 1] === 45;
    if (close) i += 2;
    while (body[i] === 32 || body[i] === 9) i++;
    if (i >= body.length) return { at: pos, after: body.length, close };
    if (body[i] === 10) return { at: pos, after: i + 1, close };
    if (body[i] === 13 && body[i + 1] === 10) return { at: pos, after: i + 2, close };
  }
  return undefined;
}

/** Splits a multipart body on its delimiter lines (RFC 2046 5.1.1); a missing close delimiter is tolerated. */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let d = nextDelimiter(body, delim, 0);
  while (d && !d.close && d.after < body.length && parts.length < MAX_PARTS) {
    const start = d.after;
    const next = nextDelimiter(body, delim, start);
    let end = next ? next.at : body.length;
    // The CRLF before a delimiter belongs to the delimiter.
    if (next && end > start && body[end - 1] === 10) end -= end - 1 > start && body[end - 2] === 13 ? 2 : 1;
    parts.push(body.subarray(start, end));
    d = next;
  }
  return parts;
}

function parseAt(raw: Buffer, depth: number): MimeEntity {
  const { headerText, body } = splitHeaderBody(raw);
  const headers = parseHeaderBlock(headerText);
  const { mediaType, params } = parseContentType(getHeader(headers, 'Content-Type'));
  if (mediaType.startsWith('multipart/') && depth < MAX_DEPTH) {
    // RFC 2046 5.1.1: the boundary parameter is required, and the body is its parts. Without
    // either, the bytes are not the message the sender meant: never handed on as text or a file.
    if (!params.boundary) {
      return { headers, mediaType, params, body, decodeError: `${mediaType} without a boundary parameter` };
    }
    if (!nextDelimiter(body, Buffer.from(`--${params.boundary}`), 0)) {
      return {
        headers,
        mediaType,
        params,
        body,
        decodeError: `boundary '${printable(params.boundary)}' never appears in the ${mediaType} body`,
      };
    }
    const parts = splitMultipart(body, params.boundary).map((p) => parseAt(p, depth + 1));
    if (!parts.length) return { headers, mediaType, params, body, decodeError: `${mediaType} without a body part` };
    return { headers, mediaType, params, body: Buffer.alloc(0), parts };
  }
  const decoded = transferDecode(body, getHeader(headers, 'Content-Transfer-Encoding'));
  if (mediaType === 'text/plain' && !decoded.decodeError) {
    const text = decodeText(new Uint8Array(0), params.charset);
    if (!text.ok) return { headers, mediaType, params, ...decoded, decodeError: text.error };
  }
  return { headers, mediaType, params, ...decoded };
}

/** Parses a message or body part. Never throws; nesting deeper than 8 levels is kept as opaque bytes. */
export function parseMimeEntity(raw: Buffer): MimeEntity {
  return parseAt(raw, 0);
}

/** The body as text in its declared charset ({@link decodeText}); an unknown charset reads as UTF-8 here. */
export function entityText(e: MimeEntity): string {
  return decodeCharset(e.body, e.params.charset);
}

const CONTENT_HEADERS = ['content-type', 'content-transfer-encoding', 'mime-version'];

function wrap76(s: string): string {
  return s.replace(/.{1,76}/g, '$&\r\n');
}

/**
 * Serializes strictly (CRLF): short-lined text as 8bit, other text as base64 UTF-8-safe, binary as
 * base64 at 76 columns; multiparts get a boundary derived from their content (reproducible).
 * The entity's own headers other than Content-* are written first, in order.
 */
export function serializeMimeEntity(e: MimeEntity, encodeLeaf: LeafEncoder = defaultLeafEncoding): Buffer {
  const lines = e.headers
    .filter((h) => !CONTENT_HEADERS.includes(h.name.toLowerCase()))
    .map((h) => headerLine(h.name, h.value));
  if (e.parts) {
    const bodies = e.parts.map((p) => serializeMimeEntity(p, encodeLeaf));
    const boundary =
      e.params.boundary ?? `=_iwf_${createHash('sha256').update(Buffer.concat(bodies)).digest('hex').slice(0, 24)}`;
    lines.push(headerLine('Content-Type', formatParameterized(e.mediaType, { ...e.params, boundary })));
    const chunks: Buffer[] = [Buffer.from(lines.join('\r\n') + '\r\n\r\n')];
    for (const b of bodies) chunks.push(Buffer.from(`--${boundary}\r\n`), b, Buffer.from('\r\n'));
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return Buffer.concat(chunks);
  }
  const { cte, body } = encodeLeaf(e);
  lines.push(
    headerLine('Content-Type', formatParameterized(e.mediaType, e.params)),
    headerLine('Content-Transfer-Encoding', cte),
  );
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]);
}

/** How a leaf part's body is written: its Content-Transfer-Encoding and the encoded bytes. */
export type LeafEncoder = (leaf: MimeEntity) => { cte: string; body: Buffer };

/** Short-lined text as 7bit/8bit (CRLF line ends), everything else base64 at 76 columns. */
function defaultLeafEncoding(e: MimeEntity): { cte: string; body: Buffer } {
  const text = e.mediaType.startsWith('text/') || e.mediaType === 'application/smil';
  // latin1 views keep the bytes as they are, whatever the charset.
  const bytes = e.body.toString('latin1');
  const plain = text && bytes.split(/\r?\n/).every((l) => l.length <= 998) && !e.body.includes(0);
  if (!plain) return { cte: 'base64', body: Buffer.from(wrap76(e.body.toString('base64'))) };
  return {
    cte: /^[\x00-\x7f]*$/.test(bytes) ? '7bit' : '8bit',
    body: Buffer.from(bytes.replace(/\r?\n/g, '\r\n'), 'latin1'),
  };
}
