/**
 * A full IWF with `media.store: s3` against a real S3-compatible server (SeaweedFS): an MMS photo
 * becomes an FT-over-HTTP file transfer whose URL serves the same bytes (a Range as 206) from the
 * bucket, nothing is written to the local media directory, and once the objects have expired
 * a run of the janitor schedule deletes them from the bucket.
 */
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { parseCpim } from '../../protocols/cpim/cpim.js';
import { FTHTTP_CONTENT_TYPE, parseFtHttp } from '../../protocols/cpim/fthttp.js';
import { MEDIA_JANITOR_SCHEDULE } from '../../worker/schedules.js';
import { sendMm4 } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';
import { startSeaweedFs } from '../helpers/seaweedfs.js';
import { testWith } from '../helpers/tools.js';

function mms(jpeg: Buffer): string {
  return [
    'From: +12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    'To: +12025550199/TYPE=PLMN@mms.iwf.example.net',
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    'X-Mms-Transaction-ID: "T-s3"',
    'X-Mms-Message-ID: "M-s3"',
    'X-Mms-Ack-Request: Yes',
    'X-Mms-Originator-System: system-user@mms.mnc001.mcc001.gprs',
    '',
    '--b1',
    'Content-Type: image/jpeg; name="harbour.jpg"',
    'Content-Transfer-Encoding: base64',
    '',
    jpeg.toString('base64').replace(/.{76}/g, '$&\r\n'),
    '--b1--',
    '',
  ].join('\r\n');
}

/** Keys under `prefix` in the bucket, listed by a plain anonymous S3 request (not through the store). */
async function keys(endpoint: string, bucket: string, prefix: string): Promise<string[]> {
  const xml = await (await fetch(`${endpoint}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
  return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]);
}

testWith('weed')(
  'media.store s3: an MMS photo is served from the bucket, ranges as 206, and the janitor expires it',
  async (t) => {
    const sw = await startSeaweedFs();
    const prefix = 'node-shared/media/';
    // Short enough to see expire within the test, long enough for the delivery and the downloads.
    const ttlMs = 30_000;
    const rig = await startMmsToCpmRig({
      iwf: {
        configure: (tree) => {
          tree.media = { ...(tree.media as object), store: 's3', ttl: `${ttlMs}ms`, s3: sw.s3(prefix) };
        },
      },
    }).catch(async (e: unknown) => {
      await sw.stop();
      throw e;
    });
    const { mmsc, peer, iwf } = rig;
    try {
      t.is(iwf.config.media.store, 's3');
      const pixels = Buffer.alloc(320 * 240 * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
      const jpeg = await sharp(pixels, { raw: { width: 320, height: 240, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer();
      const sent = await sendMm4(iwf.mm4.port, mms(jpeg), {
        from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
        to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
      });
      t.true(sent.ok, JSON.stringify(sent));
      await waitFor('.RES', () => mmsc.received.find((r) => r.transactionId === 'T-s3'));
      const ft = peer.seen
        .filter((s) => s.req.method === 'MESSAGE')
        .map((s) => parseCpim(s.req.body))
        .flatMap((c) =>
          c.ok && c.message.content.headers[0].value === FTHTTP_CONTENT_TYPE ? [c.message.content] : [],
        );
      t.is(ft.length, 1);
      const d = parseFtHttp(ft[0].body.toString());
      if (!d.ok) throw new Error(d.error);
      const { file, thumbnail } = d.descriptor;
      t.is(file.size, jpeg.length);

      // The bytes live in the bucket (under the configured prefix), not on this node's disk.
      const id = /\/m\/([A-Za-z0-9_-]{22})/.exec(file.url)?.[1];
      t.truthy(id);
      t.true((await keys(sw.endpoint, sw.bucket, prefix)).includes(`${prefix}objects/${id}`));
      t.deepEqual(readdirSync(iwf.config.media.dir), [], 'nothing stored on the local disk');

      const whole = await fetch(file.url);
      t.is(whole.status, 200);
      t.is(whole.headers.get('content-type'), 'image/jpeg');
      t.deepEqual(Buffer.from(await whole.arrayBuffer()), jpeg);
      const part = await fetch(file.url, { headers: { Range: 'bytes=100-1099' } });
      t.is(part.status, 206);
      t.is(part.headers.get('content-range'), `bytes 100-1099/${jpeg.length}`);
      t.deepEqual(Buffer.from(await part.arrayBuffer()), jpeg.subarray(100, 1100));
      const tail = await fetch(file.url, { headers: { Range: 'bytes=-500' } });
      t.is(tail.status, 206);
      t.deepEqual(Buffer.from(await tail.arrayBuffer()), jpeg.subarray(jpeg.length - 500));

      // Past the last expiry (the file's or its thumbnail's), every object of the delivery is due.
      const lastExpiry = Math.max(Date.parse(file.until), thumbnail ? Date.parse(thumbnail.until) : 0);
      await new Promise((r) => setTimeout(r, Math.max(0, lastExpiry - Date.now()) + 1_000));
      t.is((await fetch(file.url)).status, 404, 'expired: no longer served even before the purge');
      t.not((await keys(sw.endpoint, sw.bucket, prefix)).length, 0, 'still in the bucket until the janitor runs');
      await iwf.client.schedule.getHandle(MEDIA_JANITOR_SCHEDULE).trigger();
      const left = await waitFor(
        'the janitor to empty the prefix',
        async () => ((await keys(sw.endpoint, sw.bucket, prefix)).length === 0 ? [] : undefined),
        30_000,
      );
      t.deepEqual(left, [], 'objects and expiry markers deleted from S3');
    } finally {
      await rig.stop();
      await sw.stop();
    }
  },
);
