/**
 * CPM -> MMS with media: a CPM user sends an FT-over-HTTP message; the IWF fetches the file from a
 * content server, adapts it to the MMSC's content class (Image Rich: 100 KB, 640x480) and sends a
 * multipart/related MM with SMIL; what cannot fit becomes a link.
 */
import test from 'ava';
import { createServer } from 'node:http';
import sharp from 'sharp';
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { cpmDeliveryId } from '../../ingress/sip-server.js';
import { serializeFtHttp } from '../../protocols/cpim/fthttp.js';
import type { cpmToMms } from '../../workflows/cpm-to-mms.workflow.js';
import { auditQuery } from '../../workflows/messages.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { startFakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { ffmpegTestClip } from '../helpers/media.js';
import { testWith } from '../helpers/tools.js';

let env: Awaited<ReturnType<typeof setup>>;
const files = new Map<string, { type: string; body: Buffer }>();

async function setup() {
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc(); // never answers: the tests look at the MM4_forward.REQ
  const content = createServer((req, res) => {
    const f = files.get(req.url ?? '');
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length }).end(f.body);
  });
  const contentPort = await new Promise<number>((r) =>
    content.listen(0, '127.0.0.1', () => r((content.address() as { port: number }).port)),
  );
  const core: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  core.onRequest(() => ({ status: 202 }));
  const iwf = await startTestIwf({
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: core.port,
    contentClass: 'image-rich',
  });
  return { temporal, mmsc, content, contentPort, core, iwf };
}
test.before(async () => {
  env = await setup();
});
test.after.always(async () => {
  await env?.iwf.stop();
  await env?.core.close();
  env?.content.close();
  await env?.mmsc.close();
  await env?.temporal.stop();
});

async function sendFile(id: string, number: string, path: string, type: string, size: number, name: string) {
  const xml = serializeFtHttp({
    file: {
      url: `http://127.0.0.1:${env.contentPort}${path}`,
      until: '2099-01-01T00:00:00Z',
      size,
      contentType: type,
      name,
    },
  });
  const cpim = `From: <tel:+12025550101>\r\nTo: <tel:${number}>\r\nDateTime: 2025-03-04T10:15:02.000Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: ${id}\r\nimdn.Disposition-Notification: negative-delivery\r\n\r\nContent-Type: application/vnd.gsma.rcs-ft-http+xml\r\n\r\n${xml}`;
  return env.core.sendRequest(
    {
      method: 'MESSAGE',
      uri: `tel:${number}`,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=m' },
        { name: 'To', value: `<tel:${number}>` },
        { name: 'Call-ID', value: `media-${id}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body: Buffer.from(cpim),
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'tcp' },
  );
}

const reqTo = (number: string) =>
  waitFor(
    `REQ to ${number}`,
    () => env.mmsc.received.find((r) => r.type === 'MM4_forward.REQ' && r.envelope.to[0].startsWith(number)),
    60_000,
  );

test('a large photo is fetched and fitted to Image Rich: at most 640x480 and within 100 KB', async (t) => {
  // Noise does not compress: the JPEG is large and the quality search has real work to do.
  const raw = Buffer.alloc(2000 * 1500 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  const photo = await sharp(raw, { raw: { width: 2000, height: 1500, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
  t.true(photo.length > 500_000);
  files.set('/photo.jpg', { type: 'image/jpeg', body: photo });
  t.is(
    (await sendFile('media-photo', '+4915170000001', '/photo.jpg', 'image/jpeg', photo.length, 'photo.jpg')).status,
    202,
  );
  const req = await reqTo('+4915170000001');
  t.is(req.contentType.mediaType, 'multipart/related');
  t.is(req.contentType.params.type, 'application/smil');
  const [smil, image] = req.attachments;
  t.is(smil.contentType, 'application/smil');
  t.regex(smil.content.toString(), /<img src="cid:part0@iwf" region="Image"\/>/);
  t.is(image.contentType, 'image/jpeg');
  const meta = await sharp(image.content).metadata();
  t.true(meta.width <= 640 && meta.height <= 480, `${meta.width}x${meta.height}`);
  t.true(image.content.length <= 100 * 1024 - 2048, `${image.content.length} bytes`);
  const audit = await env.iwf.client.workflow
    .getHandle(cpmDeliveryId('tel:+12025550101', 'media-photo'))
    .query(auditQuery);
  t.deepEqual(
    audit.trail
      .filter((e) => e.from !== e.to)
      .map((e) => e.to)
      .slice(1, 5),
    ['converting', 'fetching', 'adapting', 'sending'],
  );
  t.regex(
    audit.trail.find((e) => e.to === 'sending')?.detail ?? '',
    /image adapted: jpeg 2000x1500 \d+ B -> jpeg 640x480 \d+ B/,
  );
});

/** A photo as a phone keeps it: a baseline 640x480 JPEG of about 19 KB, already within Image Rich. */
async function fittingPhoto() {
  const raw = Buffer.alloc(640 * 480 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = ((i % 1920) / 12 + (((i * 2654435761) >>> 24) * 56) / 255) & 0xff;
  return sharp(raw, { raw: { width: 640, height: 480, channels: 3 } })
    .jpeg({ quality: 58 })
    .toBuffer();
}

/** The headers of the MM part with this Content-ID, as written on the wire. */
const partHeaders = (raw: Buffer, cid: string) => {
  const at = raw.indexOf(`Content-ID: <${cid}>`);
  return raw.subarray(at, raw.indexOf('\r\n\r\n', at)).toString('latin1');
};

test('a photo that already fits is sent as it came: the same bytes, the same name', async (t) => {
  const photo = await fittingPhoto();
  t.false((await sharp(photo).metadata()).isProgressive);
  files.set('/pic.jpg', { type: 'image/jpeg', body: photo });
  t.is((await sendFile('media-fits', '+4915170000005', '/pic.jpg', 'image/jpeg', photo.length, 'pic.jpg')).status, 202);
  const req = await reqTo('+4915170000005');
  const image = req.attachments.find((p) => p.contentId === '<part0@iwf>')!;
  t.is(image.contentType, 'image/jpeg');
  t.is(image.filename, 'pic.jpg');
  t.true(image.content.equals(photo), 'byte for byte: not re-encoded');
  t.regex(
    partHeaders(req.raw, 'part0@iwf'),
    /\r\nContent-Location: pic\.jpg\r\n/,
    'a bare URI (RFC 2557 4), not a quoted string',
  );
  const audit = await env.iwf.client.workflow
    .getHandle(cpmDeliveryId('tel:+12025550101', 'media-fits'))
    .query(auditQuery);
  t.regex(
    audit.trail.find((e) => e.to === 'sending')?.detail ?? '',
    /passed through as received \(image\/jpeg \d+ B\): jpeg 640x480 \d+ B within 640x480/,
  );
});

test('a file name with spaces, quotes and umlauts reaches the MMSC intact, its Content-Location URI-safe', async (t) => {
  const photo = await fittingPhoto();
  const name = 'Grüße "vom" Strand.jpg';
  files.set('/strand.jpg', { type: 'image/jpeg', body: photo });
  t.is((await sendFile('media-name', '+4915170000006', '/strand.jpg', 'image/jpeg', photo.length, name)).status, 202);
  const req = await reqTo('+4915170000006');
  const image = req.attachments.find((p) => p.contentId === '<part0@iwf>')!;
  t.is(image.filename, name, 'RFC 2231 filename/name parameters, read back by postal-mime');
  t.true(image.content.equals(photo));
  const headers = partHeaders(req.raw, 'part0@iwf');
  t.regex(headers, /\r\nContent-Location: Gru_e_vom_Strand\.jpg\r\n/);
  t.regex(headers, /\r\n filename\*=utf-8''Gr%C3%BC%C3%9Fe%20%22vom%22%20Strand\.jpg/);
  t.regex(req.attachments[0].content.toString(), /<img src="cid:part0@iwf" region="Image"\/>/);
});

test('a video too large for the peer becomes a download link in the text', async (t) => {
  const video = Buffer.alloc(300 * 1024, 1);
  files.set('/clip.mp4', { type: 'video/mp4', body: video });
  t.is(
    (await sendFile('media-video', '+4915170000002', '/clip.mp4', 'video/mp4', video.length, 'clip.mp4')).status,
    202,
  );
  const req = await reqTo('+4915170000002');
  t.is(req.contentType.mediaType, 'text/plain');
  t.regex(req.text ?? '', /^clip\.mp4: http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]{22}\/clip\.mp4 \(until /);
  const url = /(http:\S+)/.exec(req.text ?? '')![1];
  const download = await fetch(url);
  t.is(download.status, 200, 'the link serves the fetched file from our Media Storage Server');
  t.is(Number(download.headers.get('content-length')), video.length);
});

test('a file link that is gone fails the delivery with a failure IMDN', async (t) => {
  t.is((await sendFile('media-gone', '+4915170000003', '/missing.jpg', 'image/jpeg', 1000, 'x.jpg')).status, 202);
  const outcome = await env.iwf.client.workflow
    .getHandle<typeof cpmToMms>(cpmDeliveryId('tel:+12025550101', 'media-gone'))
    .result();
  t.like(outcome, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
  t.regex(outcome.statusText, /HTTP 404/);
});

testWith('ffmpeg')('a video clip is transcoded to 3GPP within the peer budget', async (t) => {
  const clip = ffmpegTestClip({ seconds: 3 });
  files.set('/clip2.mp4', { type: 'video/mp4', body: clip });
  t.is(
    (await sendFile('media-clip', '+4915170000004', '/clip2.mp4', 'video/mp4', clip.length, 'clip2.mp4')).status,
    202,
  );
  const req = await reqTo('+4915170000004');
  const video = req.attachments.find((p) => p.contentType === 'video/3gpp');
  t.truthy(video, 'a video/3gpp part');
  t.true(video!.content.length <= 100 * 1024 - 2048, `${video!.content.length} B`);
  t.is(req.attachments[0].contentType, 'application/smil');
  t.regex(req.attachments[0].content.toString(), /<video src="cid:part0@iwf" region="Image"\/>/);
});
