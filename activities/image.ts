import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';

// The one wrapper around sharp: its process-wide settings are made once, here.
sharp.cache(false);
sharp.concurrency(1);

/**
 * Decompression bombs: a few kilobytes of PNG can declare 30000x30000 pixels (900 M, gigabytes
 * once decoded). No input may have more than this many pixels (all frames of an animation
 * together); sharp checks it from the header, before decoding anything.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

/** Every sharp input goes through here, so none escapes the pixel limit. */
function open(bytes: Buffer, o: SharpOptions = {}): Sharp {
  return sharp(bytes, { ...o, limitInputPixels: MAX_INPUT_PIXELS });
}

/** The reason for refusing an image, worded for the delivery's notes. */
function why(e: unknown): string {
  const m = (e as Error).message;
  return /pixel limit/i.test(m) ? `more than ${MAX_INPUT_PIXELS / 1e6} megapixels, refused (decompression bomb?)` : m;
}

/** RCS thumbnails (GSMA RCC.07 FT-over-HTTP, file-info type="thumbnail") are small previews. */
const THUMB = { width: 160, height: 120, quality: 70 };

/** A JPEG preview of an image (first frame of an animation); undefined when it cannot be decoded. */
export async function thumbnail(bytes: Buffer): Promise<Buffer | undefined> {
  try {
    return await open(bytes, { failOn: 'error' })
      .rotate()
      .resize(THUMB.width, THUMB.height, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: THUMB.quality, mozjpeg: true })
      .toBuffer();
  } catch {
    return undefined;
  }
}

export interface ImageTarget {
  maxWidth: number;
  maxHeight: number;
  maxBytes: number;
  /** Output types the recipient accepts, e.g. image/jpeg, image/gif, image/png. */
  allowed: (type: string) => boolean;
}

export type FittedImage =
  | { ok: true; bytes: Buffer; contentType: string; width: number; height: number; note: string }
  | { ok: false; note: string };

const MAX_DOWNSCALES = 8;

/** Media types of the raster formats sharp reads (SVG is left out: it is a document, not a picture). */
function mediaTypeOf(meta: Metadata): string | undefined {
  if (meta.format === 'heif') return meta.compression === 'av1' ? 'image/avif' : 'image/heic';
  return (
    { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', tiff: 'image/tiff' } as Record<
      string,
      string
    >
  )[meta.format];
}

export type AsIs =
  { fits: true; contentType: string; width: number; height: number; note: string } | { fits: false; note: string };

/**
 * Whether an image can go to the recipient as it is ("don't touch what fits"): its real format
 * (what sharp reads in it, not what it is called) is one the recipient accepts, its size is within
 * the byte budget, and its resolution as displayed (EXIF orientation applied; one frame of an
 * animation) within the content class (OMA-TS-MMS_CONF). Only the metadata is read. `contentType`
 * is the format's own media type, so an `image/jpg` label comes out as `image/jpeg`.
 */
export async function imageAsIs(bytes: Buffer, t: ImageTarget): Promise<AsIs> {
  let meta: Metadata;
  try {
    meta = await open(bytes, { animated: true, failOn: 'error' }).metadata();
  } catch (e) {
    return { fits: false, note: `cannot be decoded (${why(e)})` };
  }
  const turned = (meta.orientation ?? 1) >= 5; // EXIF orientations 5-8 swap width and height
  const [w, h] = turned ? [meta.pageHeight ?? meta.height, meta.width] : [meta.width, meta.pageHeight ?? meta.height];
  const type = mediaTypeOf(meta);
  const misfits = [
    !type || !t.allowed(type) ? `${type ?? meta.format} is not accepted` : '',
    bytes.length > t.maxBytes ? `over the ${t.maxBytes}-byte budget` : '',
    w > t.maxWidth || h > t.maxHeight ? `larger than ${t.maxWidth}x${t.maxHeight}` : '',
  ].filter(Boolean);
  if (misfits.length || !type) return { fits: false, note: misfits.join(', ') };
  const what = `${meta.format} ${w}x${h} ${bytes.length} B`;
  return {
    fits: true,
    contentType: type,
    width: w,
    height: h,
    note: `${what} within ${t.maxWidth}x${t.maxHeight} and the ${t.maxBytes}-byte budget`,
  };
}

/**
 * Fits an image to an MMS recipient (OMA-TS-MMS_CONF content classes): within the resolution,
 * in an accepted format (WebP/AVIF/HEIF-like inputs become JPEG; animated GIF stays animated when
 * GIF is accepted), metadata stripped, and never above the byte budget: JPEG quality is searched
 * by bisection and the picture shrinks further only when the lowest quality does not fit.
 * An image that already fits is not for this function: see imageAsIs.
 */
export async function fitImage(bytes: Buffer, t: ImageTarget): Promise<FittedImage> {
  let meta: Metadata;
  try {
    meta = await open(bytes, { animated: true, failOn: 'error' }).metadata();
  } catch (e) {
    return { ok: false, note: `image cannot be decoded (${why(e)})` };
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  const animated = (meta.pages ?? 1) > 1;
  const format =
    animated && t.allowed('image/gif')
      ? 'gif'
      : meta.format === 'png' && meta.hasAlpha && t.allowed('image/png')
        ? 'png'
        : t.allowed('image/jpeg')
          ? 'jpeg'
          : t.allowed('image/png')
            ? 'png'
            : t.allowed('image/gif')
              ? 'gif'
              : undefined;
  if (!format) return { ok: false, note: 'the recipient accepts no image format we can write' };

  let scale = Math.min(1, t.maxWidth / width, t.maxHeight / height);
  for (let round = 0; round < MAX_DOWNSCALES; round++) {
    const w = Math.max(1, Math.floor(width * scale));
    const h = Math.max(1, Math.floor(height * scale));
    const base = () =>
      open(bytes, { animated: format === 'gif' })
        .rotate()
        .resize(w, h, { fit: 'inside' });
    let out: Buffer | undefined;
    if (format === 'jpeg') {
      // Decode and resize once; the quality search then only re-encodes the small raw picture.
      const { data, info } = await base().removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const fromRaw = () => open(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
      out = await bestJpeg(fromRaw, t.maxBytes);
    } else {
      const b = await (format === 'png' ? base().png({ compressionLevel: 9, palette: true }) : base().gif()).toBuffer();
      if (b.length <= t.maxBytes) out = b;
    }
    if (out) {
      const what = `${meta.format} ${width}x${height} ${bytes.length} B -> ${format} ${w}x${h} ${out.length} B`;
      return {
        ok: true,
        bytes: out,
        contentType: `image/${format}`,
        width: w,
        height: h,
        note: `image adapted: ${what}`,
      };
    }
    scale *= 0.75;
  }
  return {
    ok: false,
    note: `image does not fit ${t.maxBytes} bytes even at ${Math.floor(width * scale)}x${Math.floor(height * scale)}`,
  };
}

/**
 * Baseline JPEG: 3GPP TS 26.140 makes baseline DCT the mode every MMS terminal decodes and
 * progressive an option. sharp's `mozjpeg` preset turns progressive on, so its other tools are
 * named one by one.
 */
const BASELINE_JPEG = {
  trellisQuantisation: true,
  overshootDeringing: true,
  quantisationTable: 3,
  optimiseCoding: true,
  progressive: false,
};

/** The highest JPEG quality (20..90) whose output fits, by bisection; undefined when q20 is too big. */
async function bestJpeg(base: () => Sharp, maxBytes: number): Promise<Buffer | undefined> {
  let lo = 20;
  let hi = 90;
  let best: Buffer | undefined;
  while (lo <= hi) {
    const q = Math.floor((lo + hi) / 2);
    const b = await base()
      .jpeg({ ...BASELINE_JPEG, quality: q })
      .toBuffer();
    if (b.length <= maxBytes) {
      best = b;
      lo = q + 1;
    } else hi = q - 1;
  }
  return best;
}
