/**
 * CPM -> MMS content adaptation (activities/media.ts adaptForMms) against a real media store:
 * don't touch what fits, adapt only what does not, and say which and why in the notes.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createMediaActivities, withExtension } from '../../activities/media.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { CONTENT_CLASSES, DEFAULT_MMS_MEDIA_TYPES } from '../../model/peer.js';

const media = filesystemMediaStore(mkdtempSync(join(tmpdir(), 'adapt-')));
const peer = {
  name: 'rich',
  domains: [],
  smtp: { host: 'h', port: 25 },
  allow: [],
  numbers: [],
  accepts: { ...CONTENT_CLASSES['image-rich'], mediaTypes: DEFAULT_MMS_MEDIA_TYPES },
};
const activities = createMediaActivities({
  media,
  mediaTtlMs: 3_600_000,
  mediaPublicUrl: () => 'http://media.example',
  maxFileBytes: 10_000_000,
  mm4: { peers: [peer] },
  fetchHosts: [],
});
const adaptForMms = (a: Parameters<typeof activities.adaptForMms>[0]) => activities.adaptForMms(a);
/** Image Rich (100 KB) less the MM overhead and the text. */
const budget = (text: string) => 100 * 1024 - 2048 - Buffer.byteLength(text);

function noise(width: number, height: number, amount = 255) {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++)
    raw[i] = ((i % (width * 3)) / 12 + (((i * 2654435761) >>> 24) * amount) / 255) & 0xff;
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

/** A photo as a phone keeps it: a baseline 640x480 JPEG of about 19 KB. */
const fittingJpeg = () => noise(640, 480, 56).jpeg({ quality: 58 }).toBuffer();

test('a baseline JPEG that fits the peer is passed through byte for byte, under its own name', async (t) => {
  const photo = await fittingJpeg();
  t.false((await sharp(photo).metadata()).isProgressive);
  t.true(photo.length > 15_000 && photo.length < budget('look'), `${photo.length} B`);
  const file = await media.put(photo, { contentType: 'image/jpeg', name: 'pic.jpg', ttlMs: 60_000 });
  const out = await adaptForMms({ text: 'look', file, peer: 'rich' });
  t.is(out.text, 'look');
  t.deepEqual(
    out.parts,
    [{ ref: file, contentType: 'image/jpeg', name: 'pic.jpg' }],
    'the stored file itself: no copy, no new name',
  );
  t.deepEqual(await media.get(out.parts[0].ref.id), photo);
  t.deepEqual(out.notes, [
    `passed through as received (image/jpeg ${photo.length} B): jpeg 640x480 ${photo.length} B within 640x480 and the ${budget('look')}-byte budget`,
  ]);
});

test('what fits keeps its name whatever its characters, and an image/jpg label is written image/jpeg', async (t) => {
  const photo = await fittingJpeg();
  const name = 'Grüße "vom" Strand 1.jpg';
  const file = await media.put(photo, { contentType: 'image/jpg', name, ttlMs: 60_000 });
  const out = await adaptForMms({ text: '', file, peer: 'rich' });
  t.deepEqual(out.parts, [{ ref: file, contentType: 'image/jpeg', name }]);
  t.regex(out.notes[0], /^passed through as received \(image\/jpg \d+ B, labelled image\/jpeg\): /);
});

test('an image over the peer limits is still adapted within the budget, keeping its base name', async (t) => {
  const big = await noise(2000, 1500).jpeg({ quality: 95, progressive: true }).toBuffer();
  const file = await media.put(big, { contentType: 'image/jpeg', name: 'pic.jpg', ttlMs: 60_000 });
  const out = await adaptForMms({ text: 'big one', file, peer: 'rich' });
  const [part] = out.parts;
  t.not(part.ref.id, file.id);
  t.is(part.name, 'pic.jpg', 'a .jpg stays .jpg: never renamed to .jpeg');
  t.is(part.contentType, 'image/jpeg');
  t.true(part.ref.size <= budget('big one'), `${part.ref.size} B`);
  const bytes = await media.get(part.ref.id);
  if (!bytes) return t.fail('the adapted image is not stored');
  const meta = await sharp(bytes).metadata();
  t.true(meta.width <= 640 && meta.height <= 480 && !meta.isProgressive, `${meta.width}x${meta.height}`);
  t.regex(
    out.notes[0],
    /^image adapted: jpeg 2000x1500 \d+ B -> jpeg 640x480 \d+ B \(over the \d+-byte budget, larger than 640x480\)$/,
  );

  const webp = await noise(320, 240).webp().toBuffer();
  const w = await adaptForMms({
    text: '',
    file: await media.put(webp, { contentType: 'image/webp', name: 'Holiday shot.webp', ttlMs: 60_000 }),
    peer: 'rich',
  });
  t.like(w.parts[0], { contentType: 'image/jpeg', name: 'Holiday shot.jpg' });
  t.regex(w.notes[0], /^image adapted: webp 320x240 \d+ B -> jpeg 320x240 \d+ B \(image\/webp is not accepted\)$/);
});

test('audio and video that fit pass through as received; what the peer refuses becomes a link', async (t) => {
  const song = Buffer.alloc(20_000, 7);
  const file = await media.put(song, { contentType: 'audio/mp3', name: 'song.mp3', ttlMs: 60_000 });
  const out = await adaptForMms({ text: '', file, peer: 'rich' });
  t.deepEqual(out.parts, [{ ref: file, contentType: 'audio/mpeg', name: 'song.mp3' }]);
  t.regex(
    out.notes[0],
    /^passed through as received \(audio\/mp3 20000 B, labelled audio\/mpeg\): audio\/mpeg is accepted and within the \d+-byte budget$/,
  );

  const doc = await media.put(Buffer.from('%PDF-1.4'), {
    contentType: 'application/pdf',
    name: 'a\r\nb.pdf',
    ttlMs: 60_000,
  });
  const link = await adaptForMms({ text: 'see', file: doc, peer: 'rich' });
  t.deepEqual(link.parts, []);
  t.regex(link.text, /^see\nab\.pdf: http:\/\/media\.example\/m\//, 'no line breaks from the name in the text');
  t.deepEqual(link.notes, ['application/pdf is not accepted by the peer', 'file replaced by a download link']);
});

test('adapted names get an extension right for their new type', (t) => {
  t.is(withExtension('pic.jpg', 'image/jpeg'), 'pic.jpg');
  t.is(withExtension('pic.JPEG', 'image/jpeg'), 'pic.JPEG');
  t.is(withExtension('pic.webp', 'image/jpeg'), 'pic.jpg');
  t.is(withExtension('clip.mp4', 'video/3gpp'), 'clip.3gp');
  t.is(withExtension('no extension', 'image/png'), 'no extension.png');
  t.is(withExtension('v1.2 final.heic', 'image/jpeg'), 'v1.2 final.jpg');
});
