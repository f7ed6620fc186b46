/**
 * RCS File Transfer over HTTP descriptors, application/vnd.gsma.rcs-ft-http+xml (GSMA RCC.07).
 * Pure; the reader is protocols/cpim/xml.ts.
 */
import { child, childText, readXml, type XmlElement } from './xml.js';

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

const FTHTTP_NS = 'urn:gsma:params:xml:ns:rcs:rcs:fthttp';
/** RCC.07 audio messages: `<am:playing-length>` in this namespace. */
const RRAM_NS = 'urn:gsma:params:xml:ns:rcs:rcs:rram';
const MAX_XML = 64 * 1024;
/** A descriptor nests 3 deep (file, file-info, data); room for extensions. */
const MAX_DEPTH = 16;
const UINT = /^\d{1,15}$/;

function readFileInfo(info: XmlElement): FtHttpFileInfo | undefined {
  const tag = (n: string) => childText(info, FTHTTP_NS, n);
  const data = child(info, FTHTTP_NS, 'data');
  const url = data?.attrs.url;
  const sizeText = tag('file-size');
  const contentType = tag('content-type');
  if (!url || !contentType || sizeText === undefined || !UINT.test(sizeText)) return undefined;
  // Tolerated in the fthttp namespace too (unprefixed), as some clients write it.
  const pl = childText(info, RRAM_NS, 'playing-length') ?? tag('playing-length');
  const name = tag('file-name');
  const disp = info.attrs['file-disposition'];
  return {
    url,
    until: data.attrs.until ?? '',
    size: Number(sizeText),
    contentType,
    ...(name ? { name } : {}),
    ...(pl && UINT.test(pl) ? { playingLengthMs: Number(pl) } : {}),
    ...(disp === 'render' || disp === 'attach' ? { disposition: disp } : {}),
  };
}

/**
 * Reads a descriptor received from a CPM client or an FT content server: a well-formed document
 * whose root is `file` in the urn:gsma:params:xml:ns:rcs:rcs:fthttp namespace, under any prefix.
 * Unknown elements and namespaces are ignored. Refuses DOCTYPE (no DTD, entities or XXE),
 * descriptors over 64 KiB and deep nesting. Never throws.
 */
export function parseFtHttp(xml: string): { ok: true; descriptor: FtHttpDescriptor } | { ok: false; error: string } {
  const doc = readXml(xml, { maxChars: MAX_XML, maxDepth: MAX_DEPTH });
  if (!doc.ok) return doc;
  if (doc.root.local !== 'file' || doc.root.uri !== FTHTTP_NS)
    return { ok: false, error: `no <file> root element in ${FTHTTP_NS}` };
  const infos = doc.root.children.filter((c) => c.uri === FTHTTP_NS && c.local === 'file-info');
  const first = (type: string) => infos.find((i) => i.attrs.type === type);
  const fileInfo = first('file');
  const file = fileInfo && readFileInfo(fileInfo);
  if (!file) return { ok: false, error: 'no usable <file-info type="file">' };
  const thumbInfo = first('thumbnail');
  const thumbnail = thumbInfo && readFileInfo(thumbInfo);
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
