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
import { createMmscActivities } from '../../activities/mmsc.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import type { SmtpCapabilities, SmtpClient } from '../../clients/smtp.js';
import type { AdaptedContent, CpmToMmsInput } from '../../model/delivery.js';
import { CONTENT_CLASSES, DEFAULT_MMS_MEDIA_TYPES, type Mm4Peer } from '../../model/peer.js';
import { bodyBudgetBytes, encodedBodyBytes } from '../../protocols/mm4/serialize.js';

const media = filesystemMediaStore(mkdtempSync(join(tmpdir(), 'adapt-')));
const peerNamed = (name: string, port: number): Mm4Peer => ({
  name,
  domains: ['mms.peer.example'],
  smtp: { host: '127.0.0.1', port },
  allow: [],
  numbers: [],
  accepts: { ...CONTENT_CLASSES['image-rich'], mediaTypes: DEFAULT_MMS_MEDIA_TYPES },
});
/** Peers whose EHLO (by port) advertises no SIZE (25) or SIZE 50000 (2525). */
const peers = [peerNamed('rich', 25), peerNamed('small-size', 2525)];

/** An SMTP client without a network: the EHLO each peer advertises, and what was sent. */
const sent: Buffer[] = [];
const smtp: SmtpClient = {
  async capabilities({ port }): Promise<SmtpCapabilities> {
    return {
      ...(port === 2525 ? { sizeLimit: 50_000 } : {}),
      eightBitMime: false,
      binaryMime: false,
      chunking: false,
      extensions: port === 2525 ? ['SIZE 50000'] : [],
      known: true,
      at: 0,
    };
  },
  async send({ raw }) {
    sent.push(raw);
  },
  close() {},
};
const activities = createMediaActivities({
  media,
  mediaTtlMs: 3_600_000,
  mediaPublicUrl: () => 'http://media.example',
  maxFileBytes: 10_000_000,
  mm4: { peers },
  smtp,
  fetchHosts: [],
});
const mmsc = createMmscActivities({
  smtp,
  media,
  mm4: { domain: 'mms.iwf.example', systemAddress: 'mm4@mms.iwf.example', peers },
});
const adaptForMms = (a: Parameters<typeof activities.adaptForMms>[0]) => activities.adaptForMms(a);
/** Image Rich (100 KB) as sent, less the MM overhead and the text: the media part goes base64. */
const budget = (text: string, limit = 100 * 1024) =>
  bodyBudgetBytes(limit, 2048 + encodedBodyBytes(Buffer.byteLength(text), 'base64'), 'base64');

/** The MM4_forward.REQ the adapted content becomes, as written to SMTP DATA. */
async function written(peer: string, content: AdaptedContent): Promise<Buffer> {
  const request: CpmToMmsInput = {
    receivedAt: '2026-01-01T00:00:00.000Z',
    cpm: {
      senderUri: 'tel:+12025550101',
      recipientUri: 'tel:+4915112345678',
      imdnMessageId: 'imdn-1',
      disposition: ['positive-delivery', 'negative-delivery', 'display'],
      contentType: 'application/vnd.gsma.rcs-ft-http+xml',
      sizeBytes: 500,
      subject: 'holiday pictures',
    },
    text: content.text,
    mm4Ack: { timeoutMs: 60_000, maxAttempts: 3 },
    reportWaitMs: 60_000,
  };
  const before = sent.length;
  const out = await mmsc.sendMm4Forward({
    workflowId: 'cpm-to-mms/tel:+12025550101/imdn-1',
    attempt: 1,
    route: {
      peer,
      from: '+12025550101/TYPE=PLMN@mms.iwf.example',
      to: '+4915112345678/TYPE=PLMN@mms.peer.example',
      messageId: 'iwf1.x.m',
    },
    request,
    content,
  });
  const raw = sent[before];
  if (raw?.length !== out.sentBytes) throw new Error('the PDU was not sent as measured');
  return raw;
}

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

test('adaptation budgets the MM4_forward.REQ as sent: base64 included, it fits the content class', async (t) => {
  // A 640x480 photo that fits Image Rich's 100 KB as raw bytes, but not once base64 in the PDU.
  const photo = await noise(640, 480, 100).jpeg({ quality: 80 }).toBuffer();
  t.true(
    photo.length < 100 * 1024 - 2048 && encodedBodyBytes(photo.length, 'base64') > 100 * 1024,
    `${photo.length} B`,
  );
  const file = await media.put(photo, { contentType: 'image/jpeg', name: 'pic.jpg', ttlMs: 60_000 });
  const out = await adaptForMms({ text: 'look at this', file, peer: 'rich' });
  t.is(out.parts.length, 1);
  t.true(out.parts[0].ref.size <= budget('look at this'), `${out.parts[0].ref.size} B`);
  t.regex(out.notes[0], new RegExp(`^image adapted: .*over the ${budget('look at this')}-byte budget`));
  const raw = await written('rich', out);
  t.true(raw.length <= 100 * 1024, `PDU of ${raw.length} B`);
});

test("the peer's EHLO SIZE and a size refusal's limit lower the budget: the PDU as sent fits them", async (t) => {
  const big = await noise(2000, 1500).jpeg({ quality: 95 }).toBuffer();
  const file = await media.put(big, { contentType: 'image/jpeg', name: 'pic.jpg', ttlMs: 60_000 });
  const sized = await adaptForMms({ text: 'big one', file, peer: 'small-size' });
  t.is(sized.notes[0], 'fitted to 50000 B as sent (its EHLO SIZE), below the 102400 B of its content class');
  t.true(sized.parts[0].ref.size <= budget('big one', 50_000), `${sized.parts[0].ref.size} B`);
  t.true((await written('small-size', sized)).length <= 50_000);

  const refused = await adaptForMms({ text: 'big one', file, peer: 'rich', limitBytes: 40_000 });
  t.is(
    refused.notes[0],
    'fitted to 40000 B as sent (the limit of its size refusal), below the 102400 B of its content class',
  );
  t.true(refused.parts[0].ref.size <= budget('big one', 40_000), `${refused.parts[0].ref.size} B`);
  t.true((await written('rich', refused)).length <= 40_000);
});

test('adapted names get an extension right for their new type', (t) => {
  t.is(withExtension('pic.jpg', 'image/jpeg'), 'pic.jpg');
  t.is(withExtension('pic.JPEG', 'image/jpeg'), 'pic.JPEG');
  t.is(withExtension('pic.webp', 'image/jpeg'), 'pic.jpg');
  t.is(withExtension('clip.mp4', 'video/3gpp'), 'clip.3gp');
  t.is(withExtension('no extension', 'image/png'), 'no extension.png');
  t.is(withExtension('v1.2 final.heic', 'image/jpeg'), 'v1.2 final.jpg');
});
