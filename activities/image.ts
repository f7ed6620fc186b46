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

/**
 * What one encode produced, for whoever watches the search (tests count encodes through it: an
 * adaptation costs its decode plus its encodes, so how many there are is the figure that matters).
 */
export interface EncodeEvent {
  format: 'jpeg' | 'png' | 'gif';
  /** JPEG quality; undefined for PNG/GIF. */
  quality?: number;
  width: number;
  height: number;
  bytes: number;
}

export interface FitOptions {
  onEncode?: (e: EncodeEvent) => void;
}

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
 * Fits an image to an MMS recipient (OMA-TS-MMS_CONF content classes): within the resolution as
 * displayed (EXIF orientation applied), in an accepted format (WebP/AVIF/HEIF-like inputs become
 * JPEG; animated GIF stays animated when GIF is accepted), metadata stripped, and never above the
 * byte budget. The picture shrinks further only when the lowest JPEG quality does not fit.
 * An image that already fits is not for this function: see imageAsIs.
 *
 * JPEG output costs one decode and at most three encodes for a size: the decode and the resize are
 * one pipeline, so libjpeg/libwebp decode at 1/2, 1/4 or 1/8 scale (shrink-on-load) instead of at
 * full size; the resized pixels stay in memory as raw samples; the quality is predicted from a
 * trial encode rather than bisected (see jpegWithin). `o.onEncode` sees every encode.
 */
export async function fitImage(bytes: Buffer, t: ImageTarget, o: FitOptions = {}): Promise<FittedImage> {
  let meta: Metadata;
  try {
    meta = await open(bytes, { animated: true, failOn: 'error' }).metadata();
  } catch (e) {
    return { ok: false, note: `image cannot be decoded (${why(e)})` };
  }
  const turned = (meta.orientation ?? 1) >= 5; // EXIF orientations 5-8 swap width and height
  const stored = [meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0];
  const [width, height] = turned ? [stored[1], stored[0]] : stored;
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

  const size = (s: number) => [Math.max(1, Math.floor(width * s)), Math.max(1, Math.floor(height * s))] as const;
  const adapted = (out: Buffer, w: number, h: number): FittedImage => {
    const what = `${meta.format} ${width}x${height} ${bytes.length} B -> ${format} ${w}x${h} ${out.length} B`;
    return {
      ok: true,
      bytes: out,
      contentType: `image/${format}`,
      width: w,
      height: h,
      note: `image adapted: ${what}`,
    };
  };
  const tooBig = (w: number, h: number): FittedImage => ({
    ok: false,
    note: `image does not fit ${t.maxBytes} bytes even at ${w}x${h}`,
  });
  try {
    const [w0, h0] = size(Math.min(1, t.maxWidth / width, t.maxHeight / height));
    if (format === 'jpeg') {
      // rotate + resize + raw in one pipeline: sharp derives the shrink-on-load factor from the
      // resize, so nothing is decoded at full size.
      let { data, info } = await open(bytes, { failOn: 'error' })
        .rotate()
        .resize(w0, h0, { fit: 'inside' })
        // JPEG has no alpha: transparency shows as white, not as whatever colour lies under it.
        .flatten({ background: '#ffffff' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      let hint: Point | undefined;
      for (let round = 0; round < MAX_DOWNSCALES; round++) {
        const px = { raw: { width: info.width, height: info.height, channels: info.channels } };
        const { width: w, height: h } = info;
        const r = await jpegWithin(
          () => open(data, px),
          t.maxBytes,
          hint,
          (quality, n) => o.onEncode?.({ format, quality, width: w, height: h, bytes: n }),
        );
        if (r.out) return adapted(r.out, w, h);
        // Even the lowest quality is over: shrink the area by about budget/bytes (JPEG size is
        // roughly proportional to the pixel count at a given quality), from the pixels in memory.
        const f = Math.min(0.75, Math.max(0.25, Math.sqrt(t.maxBytes / r.lowest.bytes) * 0.9));
        const nw = Math.max(1, Math.floor(w * f));
        const nh = Math.max(1, Math.floor(h * f));
        if (nw === w && nh === h) return tooBig(w, h);
        hint = { q: r.lowest.q, bytes: (r.lowest.bytes * nw * nh) / (w * h) };
        ({ data, info } = await open(data, px)
          .resize(nw, nh, { fit: 'fill' })
          .raw()
          .toBuffer({ resolveWithObject: true }));
      }
      return tooBig(info.width, info.height);
    }
    // PNG (palette) and GIF: no quality knob; one encode per size, the next size predicted from
    // the bytes over the budget, as for JPEG.
    let [w, h] = [w0, h0];
    for (let round = 0; round < MAX_DOWNSCALES; round++) {
      const base = open(bytes, { animated: format === 'gif', failOn: 'error' })
        .rotate()
        .resize(w, h, { fit: 'inside' });
      const { data: out, info } = await (
        format === 'png' ? base.png({ compressionLevel: 9, palette: true }) : base.gif()
      ).toBuffer({ resolveWithObject: true });
      const [ow, oh] = [info.width, info.pageHeight ?? info.height];
      o.onEncode?.({ format, width: ow, height: oh, bytes: out.length });
      if (out.length <= t.maxBytes) return adapted(out, ow, oh);
      const f = Math.min(0.75, Math.max(0.25, Math.sqrt(t.maxBytes / out.length) * 0.9));
      const [nw, nh] = [Math.max(1, Math.floor(w * f)), Math.max(1, Math.floor(h * f))];
      if (nw === w && nh === h) return tooBig(w, h);
      [w, h] = [nw, nh];
    }
    return tooBig(w, h);
  } catch (e) {
    // The header was readable but the pixels are not (truncated or corrupt data).
    return { ok: false, note: `image cannot be decoded (${why(e)})` };
  }
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

const QMIN = 20;
const QMAX = 90;
/**
 * The IJG quality factor scales the quantisation tables of ITU-T T.81 Annex K by S% with
 * S = 5000/q below 50 and 200-2q from 50 (libjpeg jcparam.c, which mozjpeg keeps). JPEG size
 * follows the quantiser step as a power law, ln(bytes) = a - alpha*ln(S), much straighter than it
 * follows q itself.
 */
const stepOf = (q: number) => (q < 50 ? 5000 / q : 200 - 2 * q);
const qualityOf = (step: number) => (step >= 100 ? 5000 / step : (200 - step) / 2);
/**
 * alpha for the first prediction only (measured 0.5-2 on photographs and noise); on the low side, so
 * that the first prediction tends to fit and the second one interpolates between a fit and an
 * overshoot. From the second encode on, the alpha of this picture is used.
 */
const ALPHA = 0.7;
/** Predictions aim this far under the budget, so that the predicted quality fits the first time. */
const AIM = 0.97;
/** A fitting candidate this close to the budget is not worth another encode. */
const CLOSE = 0.95;
/** Encodes for one size: a trial and at most two refinements, while one of them fits. */
const ENCODES = 3;

interface Point {
  q: number;
  bytes: number;
}

/**
 * The highest JPEG quality (QMIN..QMAX) that fits maxBytes, found with at most three encodes when
 * any fits: the first at QMAX (a picture that fits there is done), then each next quality predicted
 * by `predict`, floored and kept strictly between the best fitting and the lowest oversized quality
 * tried. Never returns an oversized encode: when none of three fits it keeps stepping down, to QMIN
 * at the fifth encode; `lowest` is then the point at QMIN, for the caller to shrink the picture.
 */
async function jpegWithin(
  raw: () => Sharp,
  maxBytes: number,
  hint: Point | undefined,
  seen: (quality: number, bytes: number) => void,
): Promise<{ out?: Buffer; lowest: Point }> {
  const tried: Point[] = [];
  let best: { q: number; out: Buffer } | undefined;
  let q: number | undefined = hint ? clampQ(predict([hint], maxBytes)) : QMAX;
  while (q !== undefined) {
    const out = await raw()
      .jpeg({ ...BASELINE_JPEG, quality: q })
      .toBuffer();
    seen(q, out.length);
    tried.push({ q, bytes: out.length });
    if (out.length <= maxBytes && (!best || q > best.q)) best = { q, out };
    q = nextQuality(tried, best && { q: best.q, bytes: best.out.length }, maxBytes);
  }
  const lowest = tried.reduce((a, b) => (b.q < a.q ? b : a));
  return { out: best?.out, lowest };
}

const clampQ = (q: number) => Math.min(QMAX, Math.max(QMIN, Math.floor(q)));

function nextQuality(tried: Point[], best: Point | undefined, maxBytes: number): number | undefined {
  if (best && (tried.length >= ENCODES || best.bytes >= CLOSE * maxBytes)) return undefined;
  const lowestOver = Math.min(QMAX + 1, ...tried.filter((p) => p.bytes > maxBytes).map((p) => p.q));
  const above = best ? best.q : QMIN - 1;
  if (lowestOver - above <= 1) return undefined; // no untried quality between a fit and an overshoot
  if (!best && tried.length >= ENCODES + 1) return QMIN;
  return Math.min(lowestOver - 1, Math.max(above + 1, clampQ(predict(tried, maxBytes))));
}

/**
 * The quality at which ln(bytes) = a - alpha*ln(S(q)) reaches aim*maxBytes, through a fit and an
 * overshoot when there are both, else through the two latest points (one point: the prior ALPHA).
 * Still without a fit after two encodes, it aims lower: the curve gets flatter at low qualities.
 */
function predict(points: Point[], maxBytes: number): number {
  const under = points.filter((p) => p.bytes <= maxBytes).sort((a, b) => b.q - a.q)[0];
  const over = points.filter((p) => p.bytes > maxBytes).sort((a, b) => a.q - b.q)[0];
  const target = Math.log((!under && points.length >= 2 ? 0.9 : AIM) * maxBytes);
  const [p1, p2] = under && over ? [under, over] : points.slice(-2).reverse();
  const x = (p: Point) => Math.log(stepOf(p.q));
  let alpha = ALPHA;
  if (p2 && p2.q !== p1.q) {
    const s = (Math.log(p1.bytes) - Math.log(p2.bytes)) / (x(p2) - x(p1));
    if (Number.isFinite(s) && s > 0.05) alpha = s; // bytes fall as the step grows; anything else is noise
  }
  return qualityOf(Math.exp(x(p1) + (Math.log(p1.bytes) - target) / alpha));
}
