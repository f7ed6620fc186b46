import type { MimeEntity } from './entity.js';

export interface MmPart {
  contentType: string;
  name: string;
  body: Buffer;
}

const xmlAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function smilElement(type: string): string {
  if (type.startsWith('image/')) return 'img';
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('text/')) return 'text';
  return 'ref';
}

/**
 * An MM body (docs/mms-content.md): text alone as text/plain; with media, multipart/related with a
 * SMIL presentation first (`type`/`start` parameters), one slide per media part, the text on the
 * first, parts referenced by `cid:` (RFC 2392) and named by Content-Location.
 */
export function buildMmContent(text: string, media: MmPart[]): MimeEntity {
  const textEntity = (): MimeEntity => ({ headers: [], mediaType: 'text/plain', params: { charset: 'utf-8' }, body: Buffer.from(text, 'utf8') });
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
    { headers: [{ name: 'Content-ID', value: '<smil@iwf>' }, { name: 'Content-Location', value: 'smil.smil' }], mediaType: 'application/smil', params: { charset: 'utf-8' }, body: Buffer.from(smil) },
  ];
  if (text) parts.push({ ...textEntity(), headers: [{ name: 'Content-ID', value: '<text0@iwf>' }, { name: 'Content-Location', value: 'text0.txt' }] });
  media.forEach((p, i) =>
    parts.push({
      headers: [
        { name: 'Content-ID', value: `<${cid(i)}>` },
        { name: 'Content-Location', value: `"${xmlAttr(p.name).replace(/"/g, '')}"` },
      ],
      mediaType: p.contentType,
      params: { name: p.name },
      body: p.body,
    }),
  );
  return { headers: [], mediaType: 'multipart/related', params: { type: 'application/smil', start: '<smil@iwf>' }, body: Buffer.alloc(0), parts };
}
