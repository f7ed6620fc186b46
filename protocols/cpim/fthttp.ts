/**
 * RCS File Transfer over HTTP descriptors, application/vnd.gsma.rcs-ft-http+xml (GSMA RCC.07).
 * Pure.
 */
export const FTHTTP_CONTENT_TYPE = 'application/vnd.gsma.rcs-ft-http+xml';

export interface FtHttpFileInfo {
  url: string;
  /** RFC 3339 validity of the URL. */
  until: string;
  size: number;
  contentType: string;
  name?: string;
  /** Audio messages (RCC.07 audio message): playing length in ms, content type `;voice-recording=yes`. */
  playingLengthMs?: number;
  disposition?: 'render' | 'attach';
}

export interface FtHttpDescriptor {
  file: FtHttpFileInfo;
  thumbnail?: Omit<FtHttpFileInfo, 'name' | 'playingLengthMs' | 'disposition'>;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function serializeFtHttp(d: FtHttpDescriptor): string {
  const audio = d.file.playingLengthMs !== undefined;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp"${audio ? ' xmlns:am="urn:gsma:params:xml:ns:rcs:rcs:rram"' : ''}>`,
  ];
  if (d.thumbnail) {
    // The thumbnail's file-info must come first (RCC.07).
    lines.push(
      '  <file-info type="thumbnail">',
      `    <file-size>${d.thumbnail.size}</file-size>`,
      `    <content-type>${esc(d.thumbnail.contentType)}</content-type>`,
      `    <data url="${esc(d.thumbnail.url)}" until="${esc(d.thumbnail.until)}"/>`,
      '  </file-info>',
    );
  }
  lines.push(
    `  <file-info type="file"${d.file.disposition ? ` file-disposition="${d.file.disposition}"` : ''}>`,
    `    <file-size>${d.file.size}</file-size>`,
    ...(d.file.name ? [`    <file-name>${esc(d.file.name)}</file-name>`] : []),
    `    <content-type>${esc(d.file.contentType)}</content-type>`,
    ...(audio ? [`    <am:playing-length>${d.file.playingLengthMs}</am:playing-length>`] : []),
    `    <data url="${esc(d.file.url)}" until="${esc(d.file.until)}"/>`,
    '  </file-info>',
    '</file>',
  );
  return lines.join('\n') + '\n';
}

const unesc = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&gt;/g, '>')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&');

/** Tolerant reader for descriptors received from CPM clients; refuses DOCTYPE (no XXE). */
export function parseFtHttp(xml: string): { ok: true; descriptor: FtHttpDescriptor } | { ok: false; error: string } {
  if (xml.length > 64 * 1024) return { ok: false, error: 'descriptor too large' };
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return { ok: false, error: 'DOCTYPE/ENTITY declarations are not allowed' };
  const P = '(?:[A-Za-z_][\\w.-]*:)?';
  const infos = [...xml.matchAll(new RegExp(`<${P}file-info\\b([^>]*)>([\\s\\S]*?)</${P}file-info>`, 'g'))];
  const read = (attrs: string, body: string): FtHttpFileInfo | undefined => {
    const tag = (n: string) => new RegExp(`<${P}${n}>([^<]*)</${P}${n}>`).exec(body)?.[1]?.trim();
    const data = new RegExp(`<${P}data\\b([^>]*)/?>`).exec(body)?.[1] ?? '';
    const attr = (s: string, n: string) => new RegExp(`\\b${n}\\s*=\\s*"([^"]*)"`).exec(s)?.[1];
    const url = attr(data, 'url');
    const size = Number(tag('file-size'));
    const contentType = tag('content-type');
    if (!url || !contentType || !Number.isFinite(size)) return undefined;
    const pl = tag('playing-length');
    const disp = attr(attrs, 'file-disposition');
    return {
      url: unesc(url),
      until: unesc(attr(data, 'until') ?? ''),
      size,
      contentType: unesc(contentType),
      ...(tag('file-name') ? { name: unesc(tag('file-name')!) } : {}),
      ...(pl ? { playingLengthMs: Number(pl) } : {}),
      ...(disp === 'render' || disp === 'attach' ? { disposition: disp } : {}),
    };
  };
  let file: FtHttpFileInfo | undefined;
  let thumbnail: FtHttpFileInfo | undefined;
  for (const [, attrs, body] of infos) {
    const type = /\btype\s*=\s*"([^"]*)"/.exec(attrs)?.[1];
    if (type === 'thumbnail') thumbnail = read(attrs, body);
    else if (type === 'file') file = read(attrs, body);
  }
  if (!file) return { ok: false, error: 'no usable <file-info type="file">' };
  return {
    ok: true,
    descriptor: {
      file,
      ...(thumbnail
        ? {
            thumbnail: {
              url: thumbnail.url,
              until: thumbnail.until,
              size: thumbnail.size,
              contentType: thumbnail.contentType,
            },
          }
        : {}),
    },
  };
}
