import { readFileSync } from 'node:fs';

/** Reads an example message from test/fixtures/ (kept byte for byte: CRLF as on the wire). */
export function vector(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Forces CRLF, as MM4 and SIP use on the wire, whatever a checkout did to line endings. */
export function crlf(buf: Buffer): Buffer {
  return Buffer.from(buf.toString('utf8').replace(/\r?\n/g, '\r\n'), 'utf8');
}
