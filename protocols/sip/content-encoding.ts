/**
 * Content-Encoding of SIP bodies (RFC 3261 §20.12). Pure: bytes in, bytes out, no I/O.
 *
 * Clients compress bodies (liblinphone sends every IMDN with `Content-Encoding: deflate`). We
 * undo `deflate` and `gzip` (RFC 9110 §8.4.1) with a cap on the inflated size, so a small
 * datagram cannot become unbounded memory; anything else is refused with 415 and the
 * `Accept-Encoding` we do take (RFC 3261 §8.2.3).
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { getHeader, type SipHeader } from './message.js';

/** What we can decode, in the form RFC 3261 §20.2 writes it. */
export const ACCEPT_ENCODING = 'deflate, gzip';

export type DecodedBody =
  | { ok: true; body: Buffer; encodings: string[] }
  | { ok: false; status: 400 | 413 | 415; reason: string; headers?: SipHeader[] };

/**
 * The body of a message whose headers may carry Content-Encoding, decoded. Codings are listed in
 * the order they were applied (RFC 9110 §8.4), so they are undone last first. `identity` is a no-op.
 */
export function decodeSipBody(headers: SipHeader[], body: Buffer, maxBytes: number): DecodedBody {
  const header = getHeader(headers, 'Content-Encoding');
  if (header === undefined) return { ok: true, body, encodings: [] };
  const encodings = header
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s && s !== 'identity');
  const unknown = encodings.find((e) => !DECODERS[e]);
  if (unknown !== undefined) {
    return {
      ok: false,
      status: 415,
      reason: `Unsupported Media Type (unsupported Content-Encoding ${printable(unknown)})`,
      headers: [{ name: 'Accept-Encoding', value: ACCEPT_ENCODING }],
    };
  }
  let out = body;
  for (const e of [...encodings].reverse()) {
    const r = DECODERS[e](out, maxBytes);
    if (!r.ok) return r;
    out = r.body;
  }
  return { ok: true, body: out, encodings };
}

type Step = { ok: true; body: Buffer } | { ok: false; status: 400 | 413; reason: string };
type Decoder = (input: Buffer, maxBytes: number) => Step;

/** Node's zlib with `maxOutputLength`: stops at the cap instead of allocating what the stream asks. */
function inflateWith(fns: ((b: Buffer, o: { maxOutputLength: number }) => Buffer)[], name: string): Decoder {
  return (input, maxBytes) => {
    let last: unknown;
    for (const fn of fns) {
      try {
        return { ok: true, body: fn(input, { maxOutputLength: maxBytes }) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          return {
            ok: false,
            status: 413,
            reason: `Request Entity Too Large (${name} body inflates beyond ${maxBytes} bytes)`,
          };
        }
        last = e;
      }
    }
    return {
      ok: false,
      status: 400,
      reason: `Bad Request (malformed ${name} body: ${printable((last as Error).message)})`,
    };
  };
}

const DECODERS: Record<string, Decoder> = {
  // "deflate" is a zlib stream (RFC 9110 §8.4.1.2, RFC 1950); some senders put raw RFC 1951 data
  // under that name, so raw inflate is the fallback.
  deflate: inflateWith([inflateSync, inflateRawSync], 'deflate'),
  gzip: inflateWith([gunzipSync], 'gzip'),
  'x-gzip': inflateWith([gunzipSync], 'gzip'),
};

/** A value fit for a reason phrase: no control characters, bounded length. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 60);
}
