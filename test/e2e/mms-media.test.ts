/**
 * An MMS with a picture and a voice note reaches the CPM user as RCS: the text as a CPIM text
 * message and each media part as an FT-over-HTTP descriptor whose URLs download from the
 * Media Storage Server, in the order the SMIL presents them.
 */
import test from 'ava';
import sharp from 'sharp';
import { parseCpim } from '../../protocols/cpim/cpim.js';
import { FTHTTP_CONTENT_TYPE, parseFtHttp } from '../../protocols/cpim/fthttp.js';
import { getHeaders } from '../../protocols/sip/message.js';
import { sendMm4 } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';

/** 50 AMR-NB 12.2 kbit/s frames (header 0x3C + 31 bytes) = 1000 ms (RFC 4867 5). */
const amr = Buffer.concat([
  Buffer.from('#!AMR\n'),
  ...Array.from({ length: 50 }, () => Buffer.concat([Buffer.from([0x3c]), Buffer.alloc(31, 7)])),
]);

function mms(jpeg: Buffer): string {
  const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');
  const smil =
    '<smil><body><par dur="5s"><audio src="voice.amr"/><img src="cid:img1"/><text src="cid:txt1"/></par></body></smil>';
  return [
    'From: +12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    'To: +12025550199/TYPE=PLMN@mms.iwf.example.net',
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    'Subject: =?UTF-8?B?Rm90byDinJM=?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="b1"; type="application/smil"; start="<smil0>"',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    'X-Mms-Transaction-ID: "T-media"',
    'X-Mms-Message-ID: "M-media"',
    'X-Mms-Ack-Request: Yes',
    'X-Mms-Originator-System: system-user@mms.mnc001.mcc001.gprs',
    '',
    '--b1',
    'Content-Type: application/smil',
    'Content-ID: <smil0>',
    '',
    smil,
    '--b1',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-ID: <txt1>',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Gr=FC=DFe aus K=F6ln',
    '--b1',
    'Content-Type: image/jpeg; name="beach.jpg"',
    'Content-ID: <img1>',
    'Content-Transfer-Encoding: base64',
    '',
    b64(jpeg),
    '--b1',
    'Content-Type: audio/amr',
    'Content-Location: voice.amr',
    'Content-Transfer-Encoding: base64',
    '',
    b64(amr),
    '--b1--',
    '',
  ].join('\r\n');
}

test('an MMS with SMIL, text, a 3 MB photo and a voice note becomes a text message and two file transfers', async (t) => {
  const rig = await startMmsToCpmRig();
  const { mmsc, peer, iwf } = rig;
  try {
    // A 3 MB camera-sized photo (noise does not compress).
    const pixels = Buffer.alloc(3000 * 2000 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
    const jpeg = await sharp(pixels, { raw: { width: 3000, height: 2000, channels: 3 } })
      .jpeg({ quality: 97 })
      .toBuffer();
    t.true(jpeg.length > 3_000_000, `${jpeg.length} B`);
    const sent = await sendMm4(iwf.mm4.port, mms(jpeg), {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
    t.true(sent.ok, JSON.stringify(sent));
    await waitFor('.RES', () => mmsc.received.find((r) => r.transactionId === 'T-media'));
    const msgs = peer.seen
      .filter((s) => s.req.method === 'MESSAGE')
      .map((s) => {
        const c = parseCpim(s.req.body);
        if (!c.ok) throw new Error(c.error);
        return { req: s.req, type: c.message.content.headers[0].value, body: c.message.content.body };
      });
    t.is(msgs.length, 3);
    t.is(msgs[0].type, 'text/plain; charset=utf-8');
    t.is(msgs[0].body.toString(), 'Grüße aus Köln', 'text converted from ISO-8859-1 to UTF-8');

    // SMIL order: the audio comes before the image.
    const [audio, image] = msgs.slice(1).map((m) => {
      t.is(m.type, FTHTTP_CONTENT_TYPE);
      t.true(getHeaders(m.req.headers, 'Accept-Contact').some((v) => v.includes('iari.rcs.fthttp')));
      const d = parseFtHttp(m.body.toString());
      if (!d.ok) throw new Error(d.error);
      return d.descriptor;
    });
    t.is(audio.file.contentType, 'audio/amr;voice-recording=yes');
    t.is(audio.file.playingLengthMs, 1000);
    t.is(audio.file.name, 'voice.amr');
    t.is(image.file.contentType, 'image/jpeg');
    t.is(image.file.name, 'beach.jpg');
    t.is(image.file.size, jpeg.length);
    t.true(Date.parse(image.file.until) > Date.now());

    const download = await fetch(image.file.url);
    t.is(download.status, 200);
    t.deepEqual(Buffer.from(await download.arrayBuffer()), jpeg);
    t.truthy(image.thumbnail);
    const thumb = Buffer.from(await (await fetch(image.thumbnail!.url)).arrayBuffer());
    const meta = await sharp(thumb).metadata();
    t.is(meta.format, 'jpeg');
    t.true(meta.width <= 160 && meta.height <= 120, `${meta.width}x${meta.height}`);
    t.deepEqual(Buffer.from(await (await fetch(audio.file.url)).arrayBuffer()), amr);
  } finally {
    await rig.stop();
  }
});
