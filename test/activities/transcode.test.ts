import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { audioForMms, videoForMms, videoThumbnail } from '../../activities/transcode.js';
import { testWith } from '../helpers/tools.js';

/** A 4 s 640x480 test pattern with a tone, made by ffmpeg itself (lavfi testsrc + sine). */
function testClip(): Buffer {
  const out = join(mkdtempSync(join(tmpdir(), 'clip-')), 'clip.mp4');
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=640x480:rate=25:duration=4',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=8000:duration=4',
    '-vf',
    'noise=alls=40:allf=t',
    '-c:v',
    'libx264',
    '-b:v',
    '1500k',
    '-c:a',
    'aac',
    '-shortest',
    out,
  ]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return readFileSync(out);
}

testWith('ffmpeg')('video becomes 3GPP H.264 baseline within the byte budget, with a thumbnail', async (t) => {
  const clip = testClip();
  t.true(clip.length > 100 * 1024, `source ${clip.length} B`);
  const out = await videoForMms(clip, 100 * 1024, false);
  if (!out.ok) return t.fail(out.note);
  t.is(out.contentType, 'video/3gpp');
  t.true(out.bytes.length <= 100 * 1024, `${out.bytes.length} B`);
  const thumb = await videoThumbnail(clip);
  if (!thumb) return t.fail('no thumbnail of the clip');
  const m = await sharp(thumb).metadata();
  t.is(m.format, 'jpeg');
  t.true(m.width <= 160 && m.height <= 120);
});

testWith('ffmpeg')(
  'audio becomes AAC in 3GPP within the budget; an impossible budget is a clear failure',
  async (t) => {
    const clip = testClip();
    const out = await audioForMms(clip, 30 * 1024);
    if (!out.ok) return t.fail(out.note);
    t.is(out.contentType, 'audio/3gpp');
    t.true(out.bytes.length <= 30 * 1024);
    t.like(await videoForMms(clip, 2000, false), { ok: false });
  },
);
