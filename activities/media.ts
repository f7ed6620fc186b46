import sharp from 'sharp';
import type { MediaStore } from '../clients/media-store.js';
import type { ContentRef } from '../clients/media-store.js';
import { ErrorType } from '../model/errors.js';
import type { MmsContent } from '../model/delivery.js';
import { amrDurationMs } from '../protocols/media/amr.js';
import { entityText, type MimeEntity } from '../protocols/mime/entity.js';
import { getHeader } from '../protocols/mime/headers.js';
import { partsInPresentationOrder } from '../protocols/mime/smil.js';
import { parseMm4 } from '../protocols/mm4/pdu.js';
import { permanent } from './failures.js';

// sharp's global settings, made once here, the only sharp import (conventions.md 1.10).
sharp.cache(false);
sharp.concurrency(1);

/** RCS thumbnails are small previews (protocols.md 6: "commonly a few KB"). */
const THUMB = { width: 160, height: 120, quality: 70 };

export interface MediaDeps {
  media: MediaStore;
  mediaTtlMs: number;
}

function fileName(part: MimeEntity, index: number): string {
  const loc = getHeader(part.headers, 'Content-Location');
  const name = part.params.name ?? /filename="?([^";]+)"?/i.exec(getHeader(part.headers, 'Content-Disposition') ?? '')?.[1] ?? loc;
  const ext = part.mediaType.split('/')[1]?.replace(/^x-|[^a-z0-9]/gi, '') || 'bin';
  return (name ?? `part-${index + 1}.${ext}`).replace(/[\\/\r\n"]/g, '_').slice(0, 100);
}

/** A JPEG preview of an image (first frame of an animation); undefined when sharp cannot decode it. */
async function thumbnail(bytes: Buffer): Promise<Buffer | undefined> {
  try {
    return await sharp(bytes, { failOn: 'error' })
      .rotate()
      .resize(THUMB.width, THUMB.height, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: THUMB.quality, mozjpeg: true })
      .toBuffer();
  } catch {
    return undefined;
  }
}

export function createMediaActivities(deps: MediaDeps) {
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
      if (!parsed.ok || parsed.pdu.type !== 'MM4_forward.REQ') throw permanent(ErrorType.MalformedMessage, 'stored MM is not an MM4_forward.REQ');
      const texts: string[] = [];
      const files: MmsContent['files'] = [];
      for (const [i, part] of partsInPresentationOrder(parsed.pdu.content).entries()) {
        // Trailing line breaks are SMTP framing (RFC 5321 4.1.1.4), not the user's text.
        if (part.mediaType === 'text/plain') {
          texts.push(entityText(part).replace(/(\r?\n)+$/, ''));
          continue;
        }
        const file = await store(part.body, part.mediaType, fileName(part, i));
        const thumb = part.mediaType.startsWith('image/') ? await thumbnail(part.body) : undefined;
        const audioMs = part.mediaType === 'audio/amr' ? amrDurationMs(part.body) : undefined;
        files.push({
          file,
          ...(thumb ? { thumbnail: await store(thumb, 'image/jpeg') } : {}),
          ...(audioMs !== undefined ? { playingLengthMs: audioMs } : {}),
        });
      }
      return { text: texts.filter(Boolean).join('\n'), files };
    },
  };
}
