/**
 * Playing length of an AMR-NB storage-format file (RFC 4867 section 5: `#!AMR\n` magic, then
 * frames of one header byte + a payload sized by the frame type; 20 ms per frame). Pure; used for
 * the RCS audio-message `am:playing-length`. Undefined when the bytes are not AMR-NB.
 */
const PAYLOAD_BYTES = [12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0];

export function amrDurationMs(bytes: Buffer): number | undefined {
  const magic = Buffer.from('#!AMR\n');
  if (bytes.length < magic.length || !bytes.subarray(0, magic.length).equals(magic)) return undefined;
  let pos = magic.length;
  let frames = 0;
  while (pos < bytes.length) {
    const ft = (bytes[pos] >> 3) & 0x0f;
    pos += 1 + PAYLOAD_BYTES[ft];
    frames++;
  }
  return pos === bytes.length ? frames * 20 : undefined;
}
