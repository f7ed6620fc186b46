import { readFileSync } from 'node:fs';

/** Reads a shared reference vector (../shared/reference/vectors beside the repository). */
export function vector(name: string): Buffer {
  return readFileSync(new URL(`../../../shared/reference/vectors/${name}`, import.meta.url));
}

/** The vectors are written with LF; on the wire MM4 and SIP use CRLF. */
export function crlf(buf: Buffer): Buffer {
  return Buffer.from(buf.toString('utf8').replace(/\r?\n/g, '\r\n'), 'utf8');
}
