import type { MimeEntity } from './entity.js';
import { formatParameterized } from './headers.js';

export interface MmPart {
  contentType: string;
  /** The file name as the user gave it (any characters); it goes into `name`/`filename` parameters. */
  name: string;
  body: Buffer;
}

function smilElement(type: string): string {
  if (type.startsWith('image/')) return 'img';
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('text/')) return 'text';
  return 'ref';
}

/** The Content-Locations of the SMIL and text parts, which a media part's must not repeat. */
const RESERVED = ['smil.smil', 'text0.txt'];
const MAX_LOCATION = 64;

/**
 * A file name as a Content-Location (RFC 2557 4: the value is a URI, here a relative one): reduced
 * to RFC 3986 2.3 unreserved characters (`A-Z a-z 0-9 . _ -`, accents dropped, every other run a
 * `_`), which are also RFC 2045 tokens, so it is never quoted, never encoded, and holds no space,
 * quote, CR or LF. The extension stays; an empty result becomes `fallback`; `taken` keeps the
 * parts of one MM apart (a SMIL `src` or a reader may resolve parts by this name).
 */
export function contentLocation(name: string, fallback: string, taken: readonly string[] = []): string {
  const ascii = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const m = /^(.*?)(\.[A-Za-z0-9]{1,5})?$/s.exec(ascii)!;
  const ext = (m[2] ?? '').toLowerCase();
  const trim = (s: string) => s.replace(/^[._-]+|[._-]+$/g, '');
  const safe = trim(m[1].replace(/[^A-Za-z0-9._-]+/g, '_').replace(/_*\._*/g, '.'));
  const base = trim(safe.slice(0, MAX_LOCATION - ext.length - 3)) || fallback;
  const used = (s: string) => [...RESERVED, ...taken].some((t) => t.toLowerCase() === s.toLowerCase());
  let loc = base + ext;
  for (let i = 2; used(loc); i++) loc = `${base}-${i}${ext}`;
  return loc;
}

/**
 * An MM body (docs/mms-content.md): text alone as text/plain; with media, multipart/related with a
 * SMIL presentation first (`type`/`start` parameters), one slide per media part, the text on the
 * first, parts referenced by `cid:` (RFC 2392) and located by a URI-safe Content-Location
 * (RFC 2557 4). The user's file name, whatever its characters, is in the Content-Type `name` and
 * the Content-Disposition `filename` (RFC 2183), RFC 2231-encoded when it is not plain ASCII.
 */
export function buildMmContent(text: string, media: MmPart[]): MimeEntity {
  const textEntity = (): MimeEntity => ({
    headers: [],
    mediaType: 'text/plain',
    params: { charset: 'utf-8' },
    body: Buffer.from(text, 'utf8'),
  });
  if (!media.length) return textEntity();
  const cid = (i: number) => `part${i}@iwf`;
  const slides = media.map((p, i) => {
    const region = p.contentType.startsWith('image/') || p.contentType.startsWith('video/') ? ' region="Image"' : '';
    const textRef = i === 0 && text ? '<text src="cid:text0@iwf" region="Text"/>' : '';
    return `<par dur="5000ms"><${smilElement(p.contentType)} src="cid:${cid(i)}"${region}/>${textRef}</par>`;
  });
  const smil =
    '<smil><head><layout><root-layout width="100%" height="100%"/>' +
    '<region id="Image" top="0" left="0" width="100%" height="80%"/><region id="Text" top="80%" left="0" width="100%" height="20%"/>' +
    `</layout></head><body>${slides.join('')}</body></smil>`;
  const parts: MimeEntity[] = [
    {
      headers: [
        { name: 'Content-ID', value: '<smil@iwf>' },
        { name: 'Content-Location', value: 'smil.smil' },
      ],
      mediaType: 'application/smil',
      params: { charset: 'utf-8' },
      body: Buffer.from(smil),
    },
  ];
  if (text)
    parts.push({
      ...textEntity(),
      headers: [
        { name: 'Content-ID', value: '<text0@iwf>' },
        { name: 'Content-Location', value: 'text0.txt' },
      ],
    });
  const locations: string[] = [];
  media.forEach((p, i) => {
    const location = contentLocation(p.name, `part${i}`, locations);
    locations.push(location);
    parts.push({
      headers: [
        { name: 'Content-ID', value: `<${cid(i)}>` },
        { name: 'Content-Location', value: location },
        { name: 'Content-Disposition', value: formatParameterized('inline', { filename: p.name }) },
      ],
      mediaType: p.contentType,
      params: { name: p.name },
      body: p.body,
    });
  });
  return {
    headers: [],
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<smil@iwf>' },
    body: Buffer.alloc(0),
    parts,
  };
}
