/**
 * `npm run bench`, media part:
 *  - MMS -> CPM with one 3000x2000 JPEG per message through the real IWF (SMTP -> store ->
 *    thumbnail -> FT-over-HTTP MESSAGE -> .RES), on the embedded dev server;
 *  - image adaptation time per image (3000x2000 JPEG -> Image Rich, 640x480 within 100 KB) next to
 *    libvips' own `vipsthumbnail` (Debian libvips-tools) on the same inputs, as a ratio.
 * Env: BENCH_MEDIA_N (default 20), BENCH_CONCURRENCY (default 4 here: images are CPU work).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import sharp from 'sharp';
import { fitImage } from '../activities/image.js';
import { serializeMm4 } from '../protocols/mm4/pdu.js';
import { buildMmContent } from '../protocols/mime/smil-build.js';
import { buildConfig } from '../worker/config.js';
import { startDevServer } from '../worker/dev-server.js';
import { startIwf } from '../worker/iwf.js';
import { createLogger } from '../worker/logger.js';
import { startFakeMmsc } from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';
import { startSipPeer } from '../test/helpers/sip-peer.js';

const N = Number(process.env.BENCH_MEDIA_N ?? 20);
const C = Number(process.env.BENCH_CONCURRENCY ?? 4);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** A camera-like 3000x2000 JPEG: gradient plus noise. */
async function photo(seed: number): Promise<Buffer> {
  const w = 3000;
  const h = 2000;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const n = ((i + seed) * 2654435761) >>> 27;
      px[i] = ((x * 255) / w + n) & 255;
      px[i + 1] = ((y * 255) / h + n) & 255;
      px[i + 2] = (128 + n + seed) & 255;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function main() {
  const out: string[] = [];
  const images = await Promise.all(Array.from({ length: 5 }, (_, i) => photo(i)));
  out.push(`media benchmark: 3000x2000 JPEG inputs of ${(images[0].length / 1e6).toFixed(2)} MB`);

  // --- adaptation vs vipsthumbnail, same inputs, sequential
  const dir = mkdtempSync(join(tmpdir(), 'iwf-media-bench-'));
  const files = images.map((img, i) => {
    const f = join(dir, `in${i}.jpg`);
    writeFileSync(f, img);
    return f;
  });
  const ours: number[] = [];
  for (const img of images) {
    const t0 = performance.now();
    const r = await fitImage(img, { maxWidth: 640, maxHeight: 480, maxBytes: 100 * 1024 - 2048, allowed: () => true });
    if (!r.ok) throw new Error(r.note);
    ours.push(performance.now() - t0);
  }
  const meanOurs = ours.reduce((a, b) => a + b, 0) / ours.length;
  out.push(`  adaptation (sharp: resize + JPEG quality bisection into 100 KB): ${meanOurs.toFixed(0)} ms/image`);
  if (spawnSync('vipsthumbnail', ['--vips-version'], { stdio: 'ignore' }).error) {
    out.push('  vipsthumbnail: not installed (apt-get install libvips-tools) - no ratio');
  } else {
    const vips: number[] = [];
    for (const f of files) {
      const t0 = performance.now();
      const r = spawnSync('vipsthumbnail', [f, '-s', '640x480', '-o', join(dir, 'out-%s.jpg[Q=80,strip]')]);
      if (r.status !== 0) throw new Error(String(r.stderr));
      vips.push(performance.now() - t0);
    }
    const meanVips = vips.reduce((a, b) => a + b, 0) / vips.length;
    out.push(
      `  vipsthumbnail -s 640x480 (one encode, process start included): ${meanVips.toFixed(0)} ms/image -> ratio ours/vips ${(meanOurs / meanVips).toFixed(2)}`,
    );
  }

  // --- MMS -> CPM with a photo per message through the IWF
  const server = await startDevServer({
    port: await freePort(),
    namespace: 'default',
    dbFile: join(dir, 'temporal.sqlite'),
  });
  const resAt = new Map<string, number>();
  const mmsc = await startFakeMmsc(0, (m) => void resAt.set(m.messageId!, performance.now()));
  const peer = await startSipPeer(() => 202);
  const config = buildConfig({
    log: { level: 'warn' },
    temporal: { address: server.address, taskQueue: 'iwf-media-bench', encryption: { enabled: false } },
    mm4: {
      listen: '127.0.0.1:0',
      maxMessageBytes: 20 * 1024 * 1024,
      peers: [
        {
          name: 'bench',
          domains: ['mms.mnc001.mcc001.gprs'],
          smtp: `127.0.0.1:${mmsc.port}`,
          allow: ['127.0.0.1'],
          maxConnections: 100,
        },
      ],
    },
    sip: { listen: '127.0.0.1:0', outboundProxy: `127.0.0.1:${peer.port}` },
    cpm: { users: ['+1202555*'] },
    ingress: { maxInFlight: 0 },
    media: { listen: '127.0.0.1:0', dir: join(dir, 'media') },
    audit: { file: join(dir, 'audit.jsonl') },
  });
  const iwf = await startIwf(config, createLogger('warn'));
  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: iwf.mm4.port,
    ignoreTLS: true,
    pool: true,
    maxConnections: C,
    maxMessages: Infinity,
  });
  const ids = Array.from({ length: N }, (_, i) => `media-${i}`);
  const accepted = new Map<string, number>();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const raw = serializeMm4({
          type: 'MM4_forward.REQ',
          version: '6.16.0',
          transactionId: `T-${id}`,
          messageId: id,
          idsQuoted: true,
          from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
          to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
          cc: [],
          date: new Date(),
          deliveryReport: false,
          readReply: false,
          ackRequest: true,
          originatorSystem: 'sys@mms.mnc001.mcc001.gprs',
          extraHeaders: [],
          content: buildMmContent('photo', [
            { contentType: 'image/jpeg', name: 'photo.jpg', body: images[ids.indexOf(id) % images.length] },
          ]),
        });
        await smtp.sendMail({
          envelope: {
            from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
            to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
          },
          raw,
        });
        accepted.set(id, performance.now());
      }
    }),
  );
  while (ids.some((id) => !resAt.has(id))) await new Promise((r) => setTimeout(r, 10));
  const seconds = (Math.max(...resAt.values()) - t0) / 1000;
  const lat = ids.map((id) => resAt.get(id)! - accepted.get(id)!);
  out.push(
    `  MMS -> CPM with a photo each: ${(N / seconds).toFixed(2)} deliveries/s (${N} in ${seconds.toFixed(1)} s, ${C} in flight)`,
  );
  out.push(
    `    accepted (SMTP 250) -> MM4_forward.RES: p50 ${pct(lat, 50).toFixed(0)} ms, p90 ${pct(lat, 90).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms`,
  );
  smtp.close();
  await iwf.stop();
  await peer.close();
  await mmsc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(out.join('\n'));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e);
    process.exit(1);
  },
);
