import { isIP } from 'node:net';
import {
  FetchRefused,
  FetchTooLarge,
  guardedFetch,
  type FetchResult,
  localAddresses,
  parseFetchHosts,
  type FetchPolicy,
} from '../clients/http-fetch.js';
import { mediaUrl, type ContentRef, type MediaStore } from '../clients/media-store.js';
import type { SmtpClient } from '../clients/smtp.js';
import { ErrorType } from '../model/errors.js';
import type { AdaptedContent, MmsContent, MmsPart, StoredRef } from '../model/delivery.js';
import type { Mm4Peer, MmsLimits } from '../model/peer.js';
import { amrDurationMs } from '../protocols/media/amr.js';
import { entityText, type MimeEntity } from '../protocols/mime/entity.js';
import { getHeader, parseParameterized } from '../protocols/mime/headers.js';
import { partsInPresentationOrder } from '../protocols/mime/smil.js';
import { parseMm4 } from '../protocols/mm4/pdu.js';
import { bodyBudgetBytes, encodedBodyBytes } from '../protocols/mm4/serialize.js';
import { permanent } from './failures.js';
import { fitImage, imageAsIs, thumbnail } from './image.js';
import { peerLimits } from './mmsc.js';
import { audioForMms, videoForMms, videoThumbnail } from './transcode.js';

export interface MediaDeps {
  media: MediaStore;
  mediaTtlMs: number;
  mediaPublicUrl: () => string;
  /** Largest file fetched from a content server (config isf.maxFileBytes). */
  maxFileBytes: number;
  mm4: { peers: Mm4Peer[] };
  /** For the peer's EHLO SIZE and encodings: adaptation budgets the MM4_forward.REQ as sent. */
  smtp: SmtpClient;
  /**
   * Content servers fetchFile may reach beyond public addresses on ports 80/443 (config
   * media.fetchHosts: names, `*.suffix`, `*`, IPs, CIDRs, each with an optional `:port`; empty =
   * any public host). See clients/http-fetch.ts.
   */
  fetchHosts: string[];
}

/** Room the MM needs besides its media and text: headers, SMIL, MIME framing (an estimate on the safe side). */
const MM_OVERHEAD_BYTES = 2048;

const accepts = (limits: MmsLimits) => (type: string) =>
  limits.mediaTypes.some((m) => m === type || (m.endsWith('/*') && type.startsWith(m.slice(0, -1))));

/**
 * Other names of a media type, written the registered way (RFC 2046; IANA media types) so the
 * peer's list and the MM's Content-Type see the one name; the bytes are not touched.
 */
const TYPE_ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  'audio/mp3': 'audio/mpeg',
  'audio/x-mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/x-m4a': 'audio/mp4',
};
const canonicalType = (type: string) => TYPE_ALIASES[type.toLowerCase()] ?? type.toLowerCase();

/** Extensions by media type, the usual one first; what we write after adapting. */
const EXTENSIONS: Record<string, string[]> = {
  'image/jpeg': ['jpg', 'jpeg', 'jpe'],
  'image/png': ['png'],
  'image/gif': ['gif'],
  'video/3gpp': ['3gp', '3gpp'],
  'audio/3gpp': ['3gp', '3gpp'],
};

/** `name` with an extension right for `type`: kept when it already is (pic.jpg stays pic.jpg), else replaced. */
export function withExtension(name: string, type: string): string {
  const exts = EXTENSIONS[type] ?? [type.split('/')[1]?.replace(/^x-|[^a-z0-9]/gi, '') || 'bin'];
  const m = /^(.*?)(?:\.([A-Za-z0-9]{1,5}))?$/s.exec(name)!;
  if (m[2] && exts.includes(m[2].toLowerCase())) return name;
  return `${m[1] || 'file'}.${exts[0]}`;
}

/** A user's file name made harmless but otherwise kept: no control characters, no path, 100 characters. */
function cleanName(name: string | undefined): string {
  const n = [
    ...(name ?? '')
      .replace(/[\x00-\x1f\x7f-\x9f]/g, '')
      .replace(/[\\/]/g, '_')
      .trim(),
  ];
  if (n.length <= 100) return n.join('');
  const ext = /\.[A-Za-z0-9]{1,5}$/.exec(n.join(''))?.[0] ?? '';
  return n.slice(0, 100 - ext.length).join('') + ext;
}

function fileName(part: MimeEntity, index: number): string {
  const loc = getHeader(part.headers, 'Content-Location');
  const name =
    part.params.name ?? parseParameterized(getHeader(part.headers, 'Content-Disposition') ?? '').params.filename ?? loc;
  const ext = part.mediaType.split('/')[1]?.replace(/^x-|[^a-z0-9]/gi, '') || 'bin';
  return (name ?? `part-${index + 1}.${ext}`).replace(/[\\/\r\n"]/g, '_').slice(0, 100);
}

export function createMediaActivities(deps: MediaDeps) {
  // The SSRF guard of fetchFile: this IWF (every interface address, where it listens, and the
  // host of its public media URL) is refused like an internal address unless an entry names it.
  const fetchPolicy: FetchPolicy = {
    entries: parseFetchHosts(deps.fetchHosts),
    self: () => {
      let host = '';
      try {
        host = new URL(deps.mediaPublicUrl()).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
      } catch {
        // no public URL to add
      }
      const addresses = localAddresses();
      return {
        names: host && !isIP(host) ? [host] : [],
        addresses: host && isIP(host) ? [...addresses, host] : addresses,
      };
    },
  };
  const store = (bytes: Buffer, contentType: string, name?: string): Promise<ContentRef> =>
    deps.media.put(bytes, { contentType, name, ttlMs: deps.mediaTtlMs });
  return {
    /**
     * Splits a stored MM into its text and its media (claim check: only references come back).
     * Parts follow the SMIL order; each media part is stored for FT-over-HTTP download, with a
     * thumbnail for images, and AMR audio gets its playing length (audio message).
     */
    async extractMmsContent(raw: ContentRef): Promise<MmsContent> {
      const bytes = await deps.media.get(raw.id);
      if (!bytes) throw permanent(ErrorType.MalformedMessage, `stored MM ${raw.id} is gone (expired?)`);
      const parsed = parseMm4(bytes);
      if (!parsed.ok || parsed.pdu.type !== 'MM4_forward.REQ')
        throw permanent(ErrorType.MalformedMessage, 'stored MM is not an MM4_forward.REQ');
      const texts: string[] = [];
      const files: MmsContent['files'] = [];
      for (const [i, part] of partsInPresentationOrder(parsed.pdu.content).entries()) {
        // Trailing line breaks are SMTP framing (RFC 5321 4.1.1.4), not the user's text.
        if (part.mediaType === 'text/plain') {
          texts.push(entityText(part).replace(/(\r?\n)+$/, ''));
          continue;
        }
        const file = await store(part.body, part.mediaType, fileName(part, i));
        const thumb = part.mediaType.startsWith('image/')
          ? await thumbnail(part.body)
          : part.mediaType.startsWith('video/')
            ? await videoThumbnail(part.body)
            : undefined;
        const audioMs = part.mediaType === 'audio/amr' ? amrDurationMs(part.body) : undefined;
        files.push({
          file,
          ...(thumb ? { thumbnail: await store(thumb, 'image/jpeg') } : {}),
          ...(audioMs !== undefined ? { playingLengthMs: audioMs } : {}),
        });
      }
      return { text: texts.filter(Boolean).join('\n'), files };
    },

    /**
     * Fetches the file of an FT-over-HTTP message (RCC.07) into our store: size-capped, with a
     * timeout, under the SSRF policy of media.fetchHosts (clients/http-fetch.ts). A refusal by the
     * policy, a file too large, HTTP 3xx/4xx are permanent (the delivery fails with the standard
     * answer); network errors, timeouts and 5xx are retried by Temporal.
     */
    async fetchFile(f: { url: string; contentType: string; name?: string }): Promise<StoredRef> {
      let res: FetchResult;
      try {
        res = await guardedFetch(f.url, { policy: fetchPolicy, maxBytes: deps.maxFileBytes });
      } catch (e) {
        if (e instanceof FetchRefused) throw permanent(ErrorType.ContentNotAccepted, `fetch refused: ${e.message}`);
        if (e instanceof FetchTooLarge) throw permanent(ErrorType.MessageTooLarge, e.message);
        throw new Error(`fetching ${f.url}: ${(e as Error).message}`, { cause: e });
      }
      // 4xx: the link is gone; 3xx without a Location: no file there either. Both are answers.
      if (res.status >= 300 && res.status < 500)
        throw permanent(ErrorType.ContentNotAccepted, `file ${f.url} answered HTTP ${res.status}`);
      if (!res.body) throw new Error(`fetching ${f.url}: HTTP ${res.status}`);
      const type =
        f.contentType.split(';')[0].trim().toLowerCase() ||
        (res.headers['content-type'] ?? '').trim() ||
        'application/octet-stream';
      return store(res.body, type, f.name);
    },

    /**
     * Content adaptation for one MMSC peer (docs/mms-content.md). Don't touch what fits: a file of
     * a type the peer accepts, within the byte budget and (images, by their metadata) within the
     * peer's resolution goes as received, byte for byte and under its own name. Only what does not
     * fit is adapted (images with sharp, audio/video with ffmpeg) and keeps its base name with the
     * extension of its new type; when nothing fits (or the type is not accepted, or no transcoder
     * exists for it) it degrades to a text line with the file's link, as operators do. Every
     * decision, and why, is a note for the audit trail.
     *
     * The budget is for the MM4_forward.REQ as sent: within min(content class, the peer's EHLO
     * SIZE) and `limitBytes` (the limit a size refusal gave, when adapting again), less the
     * overhead and the text, the media part's transfer encoding (base64: 4/3) taken off.
     */
    async adaptForMms(a: {
      text: string;
      file?: StoredRef;
      peer: string;
      limitBytes?: number;
    }): Promise<AdaptedContent> {
      const peer = deps.mm4.peers.find((p) => p.name === a.peer);
      if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${a.peer}'`);
      const limits: MmsLimits = peer.accepts;
      const notes: string[] = [];
      const parts: MmsPart[] = [];
      let text = a.text;
      if (a.file) {
        const f = a.file;
        const sent = await peerLimits(peer, deps.smtp);
        const limitBytes = Math.min(sent.limitBytes, a.limitBytes ?? Infinity);
        if (limitBytes < sent.contentClassBytes) {
          const why =
            a.limitBytes !== undefined && a.limitBytes <= sent.limitBytes
              ? 'the limit of its size refusal'
              : 'its EHLO SIZE';
          notes.push(
            `fitted to ${limitBytes} B as sent (${why}), below the ${sent.contentClassBytes} B of its content class`,
          );
        }
        const textBytes = encodedBodyBytes(Buffer.byteLength(text, 'utf8'), sent.partEncoding);
        const budget = bodyBudgetBytes(limitBytes, MM_OVERHEAD_BYTES + textBytes, sent.partEncoding);
        const ok = accepts(limits);
        const type = canonicalType(f.contentType);
        const name = cleanName(f.name) || withExtension('file', type);
        const bytesOf = async () => {
          const bytes = await deps.media.get(f.id);
          if (!bytes) throw permanent(ErrorType.ContentNotAccepted, `stored file ${f.id} is gone`);
          return bytes;
        };
        const asIs = (contentType: string, why: string) => {
          const relabelled = contentType !== f.contentType ? `, labelled ${contentType}` : '';
          notes.push(`passed through as received (${f.contentType} ${f.size} B${relabelled}): ${why}`);
          return { ref: f, contentType, name };
        };
        const adapted = async (out: { bytes: Buffer; contentType: string }) => {
          const n = withExtension(name, out.contentType);
          return { ref: await store(out.bytes, out.contentType, n), contentType: out.contentType, name: n };
        };
        let fitted: MmsPart | undefined;
        if (type.startsWith('image/')) {
          const bytes = await bytesOf();
          const target = {
            maxWidth: limits.maxImage.width,
            maxHeight: limits.maxImage.height,
            maxBytes: budget,
            allowed: ok,
          };
          const as = await imageAsIs(bytes, target);
          if (as.fits) fitted = asIs(as.contentType, as.note);
          else {
            const img = await fitImage(bytes, target);
            notes.push(`${img.note} (${as.note})`);
            if (img.ok) fitted = await adapted(img);
          }
        } else if (ok(type) && f.size <= budget) {
          fitted = asIs(type, `${type} is accepted and within the ${budget}-byte budget`);
        } else if (type.startsWith('video/') || type.startsWith('audio/')) {
          const video = type.startsWith('video/');
          const target = video ? 'video/3gpp' : 'audio/3gpp';
          const why = ok(type) ? `over the ${budget}-byte budget` : `${type} is not accepted`;
          const out = !ok(target)
            ? { ok: false as const, note: `${type} needs transcoding but the peer does not accept ${target}` }
            : video
              ? await videoForMms(await bytesOf(), budget, false)
              : await audioForMms(await bytesOf(), budget);
          notes.push(`${out.note} (${why})`);
          if (out.ok) fitted = await adapted(out);
        } else {
          notes.push(
            ok(type)
              ? `${type} of ${f.size} B exceeds the ${budget}-byte budget`
              : `${type} is not accepted by the peer`,
          );
        }
        if (fitted) parts.push(fitted);
        else {
          const link = `${name}: ${mediaUrl(deps.mediaPublicUrl(), f)} (until ${f.expiresAt})`;
          text = text ? `${text}\n${link}` : link;
          notes.push('file replaced by a download link');
        }
      }
      return { text, parts, notes };
    },
  };
}
