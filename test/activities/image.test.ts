import test from 'ava';
import { crc32, createDeflate } from 'node:zlib';
import sharp from 'sharp';
import { type EncodeEvent, fitImage, imageAsIs, MAX_INPUT_PIXELS, thumbnail } from '../../activities/image.js';

const all = () => true;
const only =
  (...types: string[]) =>
  (t: string) =>
    types.includes(t);

async function noise(width: number, height: number) {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

test('WebP and AVIF inputs are re-encoded to JPEG within the resolution', async (t) => {
  for (const input of [
    await (await noise(1200, 900)).webp().toBuffer(),
    await (await noise(800, 600)).avif().toBuffer(),
  ]) {
    const out = await fitImage(input, {
      maxWidth: 640,
      maxHeight: 480,
      maxBytes: 200_000,
      allowed: only('image/jpeg', 'image/gif'),
    });
    if (!out.ok) return t.fail(out.note);
    t.is(out.contentType, 'image/jpeg');
    const m = await sharp(out.bytes).metadata();
    t.is(m.format, 'jpeg');
    t.true(m.width <= 640 && m.height <= 480);
  }
});

test('the byte budget is never exceeded, whatever it is', async (t) => {
  const src = await (await noise(1600, 1200)).jpeg({ quality: 95 }).toBuffer();
  for (const maxBytes of [8_000, 30_000, 100_000, 600_000]) {
    const out = await fitImage(src, { maxWidth: 1600, maxHeight: 1200, maxBytes, allowed: all });
    if (!out.ok) return t.fail(out.note);
    t.true(out.bytes.length <= maxBytes, `${out.bytes.length} > ${maxBytes}`);
  }
  const tiny = await fitImage(src, { maxWidth: 160, maxHeight: 120, maxBytes: 50, allowed: all });
  t.false(tiny.ok, 'an impossible budget is a clear failure, not an oversized image');
});

test('an animated GIF stays animated when the recipient takes GIF', async (t) => {
  const frame = (r: number) =>
    sharp({ create: { width: 320, height: 240, channels: 3, background: { r, g: 0, b: 0 } } })
      .png()
      .toBuffer();
  const gif = await sharp([await frame(255), await frame(0), await frame(128)], { join: { animated: true } })
    .gif()
    .toBuffer();
  const out = await fitImage(gif, { maxWidth: 160, maxHeight: 120, maxBytes: 100_000, allowed: all });
  if (!out.ok) return t.fail(out.note);
  t.is(out.contentType, 'image/gif');
  const m = await sharp(out.bytes, { animated: true }).metadata();
  t.is(m.pages, 3);
  t.true(m.width <= 160);
  const still = await fitImage(gif, { maxWidth: 160, maxHeight: 120, maxBytes: 100_000, allowed: only('image/jpeg') });
  t.like(still, { ok: true, contentType: 'image/jpeg' });
});

test('EXIF metadata is stripped', async (t) => {
  const src = await sharp({ create: { width: 100, height: 100, channels: 3, background: 'white' } })
    .withExif({ IFD0: { Copyright: 'secret place' } })
    .jpeg()
    .toBuffer();
  t.truthy((await sharp(src).metadata()).exif);
  const out = await fitImage(src, { maxWidth: 640, maxHeight: 480, maxBytes: 100_000, allowed: all });
  if (!out.ok) return t.fail(out.note);
  t.falsy((await sharp(out.bytes).metadata()).exif);
});

test('undecodable bytes fail clearly; thumbnails are small JPEGs or nothing', async (t) => {
  t.like(await fitImage(Buffer.from('not an image'), { maxWidth: 1, maxHeight: 1, maxBytes: 1, allowed: all }), {
    ok: false,
  });
  t.is(await thumbnail(Buffer.from('nope')), undefined);
  const thumb = await thumbnail(await (await noise(3000, 2000)).jpeg().toBuffer());
  if (!thumb) return t.fail('no thumbnail of a decodable JPEG');
  const m = await sharp(thumb).metadata();
  t.is(m.format, 'jpeg');
  t.true(m.width <= 160 && m.height <= 120);
});

test('over generated images of several sizes and formats the output always decodes within the limits', async (t) => {
  const classes = [
    { maxWidth: 160, maxHeight: 120, maxBytes: 30 * 1024 - 2048 },
    { maxWidth: 640, maxHeight: 480, maxBytes: 100 * 1024 - 2048 },
    { maxWidth: 1600, maxHeight: 1200, maxBytes: 600 * 1024 - 2048 },
  ];
  const sources: [string, Buffer][] = [];
  for (const [w, h] of [
    [1024, 768],
    [300, 2000],
    [90, 60],
  ]) {
    const img = await noise(w, h);
    sources.push([`jpeg ${w}x${h}`, await img.clone().jpeg({ quality: 92 }).toBuffer()]);
    sources.push([`png ${w}x${h}`, await img.clone().png().toBuffer()]);
    sources.push([`webp ${w}x${h}`, await img.clone().webp().toBuffer()]);
  }
  for (const [name, src] of sources) {
    for (const c of classes) {
      const out = await fitImage(src, { ...c, allowed: only('image/jpeg', 'image/gif', 'image/png') });
      if (!out.ok) {
        t.fail(`${name} into ${c.maxWidth}x${c.maxHeight}/${c.maxBytes}: ${out.note}`);
        continue;
      }
      const m = await sharp(out.bytes).metadata(); // decodes: the output is a real image
      t.true(out.bytes.length <= c.maxBytes, `${name}: ${out.bytes.length} > ${c.maxBytes}`);
      t.true(m.width <= c.maxWidth && m.height <= c.maxHeight, `${name}: ${m.width}x${m.height}`);
      t.is(`image/${m.format}`, out.contentType);
    }
  }
});

/** Camera-like pixels: colour gradients and a soft wave, plus hashed noise of amplitude `grain` (0..255). */
function photo(width: number, height: number, grain: number) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const n = ((((i + 7) * 2654435761) >>> 24) * grain) / 255;
      raw[i] = ((x * 255) / width + n) & 255;
      raw[i + 1] = ((y * 255) / height + n) & 255;
      raw[i + 2] = (128 + 60 * Math.sin(x / 37 + y / 53) + n) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

test('over noise and photo-like inputs of several sizes: every output within budget and resolution, at most 3 encodes', async (t) => {
  const targets = [
    { maxWidth: 160, maxHeight: 120, maxBytes: 30 * 1024 - 2048 }, // Image Basic
    { maxWidth: 640, maxHeight: 480, maxBytes: 100 * 1024 - 2048 }, // Image Rich
    { maxWidth: 1600, maxHeight: 1200, maxBytes: 600 * 1024 - 2048 }, // Megapixel
    { maxWidth: 640, maxHeight: 480, maxBytes: 30_000 }, // budgets that bind at 640x480
    { maxWidth: 640, maxHeight: 480, maxBytes: 8_000 },
  ];
  const sources: [string, Buffer][] = [];
  for (const [w, h] of [
    [3000, 2000],
    [1024, 768],
    [300, 2000],
    [90, 60],
  ]) {
    for (const grain of [0, 64, 255])
      sources.push([`photo ${w}x${h} grain ${grain}`, await photo(w, h, grain).jpeg({ quality: 92 }).toBuffer()]);
    sources.push([`noise ${w}x${h}`, await (await noise(w, h)).jpeg({ quality: 95 }).toBuffer()]);
  }
  let searched = 0; // adaptations where the budget, not QMAX, set the quality
  for (const [name, src] of sources) {
    for (const c of targets) {
      const what = `${name} into ${c.maxWidth}x${c.maxHeight}/${c.maxBytes}`;
      const encodes: EncodeEvent[] = [];
      const out = await fitImage(src, { ...c, allowed: all }, { onEncode: (e) => encodes.push(e) });
      if (!out.ok) {
        t.fail(`${what}: ${out.note}`);
        continue;
      }
      const m = await sharp(out.bytes).metadata(); // decoded and measured, not taken from the result
      t.true(out.bytes.length <= c.maxBytes, `${what}: ${out.bytes.length} B`);
      t.true(m.width <= c.maxWidth && m.height <= c.maxHeight, `${what}: ${m.width}x${m.height}`);
      t.deepEqual([m.width, m.height], [out.width, out.height], what);
      t.true(encodes.length >= 1 && encodes.length <= 3, `${what}: ${encodes.length} encodes`);
      // The result is one of the encodes seen, and the best fitting one of them.
      const fits = encodes.filter((e) => e.bytes <= c.maxBytes && e.width === out.width);
      t.is(Math.max(...fits.map((e) => e.bytes)), out.bytes.length, what);
      if (encodes.length > 1) searched++;
    }
  }
  t.true(searched >= 8, `the set exercises the quality search (${searched} adaptations)`);
});

test('the quality search stops at a fit close to the budget and never keeps an oversized encode', async (t) => {
  const src = await photo(1024, 768, 255).jpeg({ quality: 92 }).toBuffer();
  const encodes: EncodeEvent[] = [];
  const maxBytes = 100 * 1024 - 2048;
  const out = await fitImage(
    src,
    { maxWidth: 640, maxHeight: 480, maxBytes, allowed: all },
    { onEncode: (e) => encodes.push(e) },
  );
  if (!out.ok) return t.fail(out.note);
  t.true(encodes[0].bytes > maxBytes, 'the first trial (q90) is over the budget: the search is exercised');
  t.true(encodes.length <= 3);
  t.true(out.bytes.length <= maxBytes);
  t.true(out.bytes.length >= 0.85 * maxBytes, `${out.bytes.length} B uses the budget`);
});

test('an impossible budget at the resolution shrinks the picture, never an oversized output', async (t) => {
  const src = await (await noise(1600, 1200)).jpeg({ quality: 95 }).toBuffer();
  const encodes: EncodeEvent[] = [];
  const out = await fitImage(
    src,
    { maxWidth: 1600, maxHeight: 1200, maxBytes: 4_000, allowed: all },
    { onEncode: (e) => encodes.push(e) },
  );
  if (!out.ok) return t.fail(out.note);
  const m = await sharp(out.bytes).metadata();
  t.true(out.bytes.length <= 4_000);
  t.true(m.width < 1600 && m.height < 1200, `${m.width}x${m.height}`);
  t.true(new Set(encodes.map((e) => e.width)).size >= 2, 'encoded at more than one size');
  // The first size went down to the lowest quality before shrinking.
  t.is(Math.min(...encodes.filter((e) => e.width === 1600).map((e) => e.quality!)), 20);
});

test('an EXIF-rotated picture is fitted as displayed and its reported size is the real one', async (t) => {
  // Stored 1200x800, orientation 6: displayed 800x1200, so 320x480 within 640x480.
  const src = await photo(1200, 800, 16).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer();
  const out = await fitImage(src, { maxWidth: 640, maxHeight: 480, maxBytes: 100_000, allowed: all });
  if (!out.ok) return t.fail(out.note);
  const m = await sharp(out.bytes).metadata();
  t.deepEqual([m.width, m.height, out.width, out.height], [320, 480, 320, 480]);
});

test('a PNG whose palette encode is over the budget is shrunk by the predicted factor, within budget', async (t) => {
  const src = await photo(800, 600, 255).ensureAlpha(0.5).png().toBuffer();
  const encodes: EncodeEvent[] = [];
  const out = await fitImage(
    src,
    { maxWidth: 640, maxHeight: 480, maxBytes: 50_000, allowed: all },
    { onEncode: (e) => encodes.push(e) },
  );
  if (!out.ok) return t.fail(out.note);
  t.is(out.contentType, 'image/png');
  const m = await sharp(out.bytes).metadata();
  t.true(out.bytes.length <= 50_000);
  t.deepEqual([m.width, m.height], [out.width, out.height]);
  t.true(encodes[0].bytes > 50_000, 'the first encode, at 640x480, is over the budget');
  t.true(encodes.length >= 2 && encodes.length <= 3, `${encodes.length} encodes`);
});

test('pixels that do not decode behind a readable header fail clearly instead of throwing', async (t) => {
  const whole = await photo(1200, 800, 64).jpeg({ quality: 90 }).toBuffer();
  const out = await fitImage(whole.subarray(0, 2000), {
    maxWidth: 640,
    maxHeight: 480,
    maxBytes: 50_000,
    allowed: all,
  });
  t.false(out.ok);
  t.regex(out.note, /cannot be decoded/);
});

test('an image that fits is recognised from its metadata, by its real format, with every reason it does not', async (t) => {
  const rich = {
    maxWidth: 640,
    maxHeight: 480,
    maxBytes: 100 * 1024 - 2048,
    allowed: only('image/jpeg', 'image/gif', 'image/png'),
  };
  const jpeg = await (await noise(640, 480)).jpeg({ quality: 30 }).toBuffer();
  t.like(await imageAsIs(jpeg, rich), { fits: true, contentType: 'image/jpeg', width: 640, height: 480 });
  t.like(await imageAsIs(await (await noise(641, 100)).png().toBuffer(), rich), {
    fits: false,
    note: 'larger than 640x480',
  });
  t.like(await imageAsIs(await (await noise(320, 240)).webp().toBuffer(), rich), {
    fits: false,
    note: 'image/webp is not accepted',
  });
  t.like(await imageAsIs(jpeg, { ...rich, maxBytes: 1000 }), { fits: false, note: 'over the 1000-byte budget' });
  // EXIF orientation 6 displays a 640x480 picture as 480x640: not within 640x480.
  const turned = await (await noise(640, 480)).withMetadata({ orientation: 6 }).jpeg({ quality: 30 }).toBuffer();
  t.like(await imageAsIs(turned, rich), { fits: false, note: 'larger than 640x480' });
  t.like(await imageAsIs(Buffer.from('not an image'), rich), { fits: false });
});

test('adapted JPEGs are baseline, the mode every MMS terminal decodes', async (t) => {
  const src = await (await noise(1600, 1200)).jpeg({ quality: 95, progressive: true }).toBuffer();
  const out = await fitImage(src, { maxWidth: 640, maxHeight: 480, maxBytes: 98_000, allowed: all });
  if (!out.ok) return t.fail(out.note);
  t.false((await sharp(out.bytes).metadata()).isProgressive);
});

/**
 * A valid grayscale PNG of width x height black pixels: a few MB of deflated zeros that decode to
 * width*height bytes (900 MB for 30000x30000), made row block by row block so the test never holds
 * the decoded size itself.
 */
async function pngBomb(width: number, height: number): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13); // bit depth 8, colour type 0 (grayscale), no interlace
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  const deflate = createDeflate({ level: 1 });
  const idat: Buffer[] = [];
  deflate.on('data', (c: Buffer) => idat.push(c));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const rows = 1000;
  const block = Buffer.alloc((width + 1) * rows); // each row: filter byte 0, then the pixels
  for (let y = 0; y < height; y += rows) {
    const n = Math.min(rows, height - y);
    if (!deflate.write(n === rows ? block : block.subarray(0, (width + 1) * n)))
      await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await ended;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.concat(idat)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Serial: it measures time and memory, which the concurrent tests would disturb.
test.serial('a decompression bomb is refused from its header, before any decoding', async (t) => {
  const target = { maxWidth: 640, maxHeight: 480, maxBytes: 100_000, allowed: all };
  // 900 Mpx (over sharp's own default limit too) and 144 Mpx (under it: refused by ours only).
  for (const [w, h] of [
    [30000, 30000],
    [12000, 12000],
  ]) {
    const bomb = await pngBomb(w, h);
    t.true(bomb.length < 8 * 1024 * 1024, `${bomb.length} B declaring ${w}x${h}`);
    const rss = process.memoryUsage().rss;
    // CPU time of this process (libvips threads included), not wall time: a busy machine does not fail it.
    const started = process.cpuUsage();
    const fitted = await fitImage(bomb, target);
    t.false(fitted.ok);
    t.regex(fitted.note, /more than 50 megapixels, refused \(decompression bomb\?\)/);
    const asIs = await imageAsIs(bomb, target);
    t.false(asIs.fits);
    t.regex(asIs.note, /more than 50 megapixels/);
    t.is(await thumbnail(bomb), undefined);
    const used = process.cpuUsage(started);
    const ms = (used.user + used.system) / 1000;
    t.true(ms < 2000, `refused in ${ms} ms CPU`);
    t.true(process.memoryUsage().rss - rss < 100 * 1024 * 1024, 'nothing near the decoded size was allocated');
  }
  // The limit is the declared pixel count: just under it is still an image.
  const side = Math.floor(Math.sqrt(MAX_INPUT_PIXELS));
  const big = await pngBomb(side, side);
  const out = await fitImage(big, target);
  t.true(out.ok, out.ok ? '' : out.note);
  t.truthy(await thumbnail(big));
});
