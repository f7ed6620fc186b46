import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import test from 'ava';
import { audioForMms, demuxerOf, runTool, videoForMms, videoThumbnail } from '../../activities/transcode.js';
import { ffmpegTestClip } from '../helpers/media.js';
import { testWith } from '../helpers/tools.js';

/** A 4 s 640x480 test pattern with a tone. */
const testClip = () => ffmpegTestClip({ seconds: 4, tone: true });

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

test('content types name their demuxer; unknown ones leave it to the restricted detection', (t) => {
  t.is(demuxerOf('video/mp4'), 'mp4');
  t.is(demuxerOf('Video/3GPP; codecs="mp4v.20.8"'), '3gp');
  t.is(demuxerOf('audio/amr'), 'amr');
  t.is(demuxerOf('audio/x-wav'), 'wav');
  t.is(demuxerOf('application/vnd.apple.mpegurl'), undefined);
  t.is(demuxerOf(undefined), undefined);
});

testWith('ffmpeg').serial('ffmpeg runs asynchronously and is SIGKILLed at its deadline', async (t) => {
  let ticks = 0;
  const tick = setInterval(() => ticks++, 20);
  try {
    // An endless source: only the deadline ends this run.
    const r = await runTool(['-nostdin', '-f', 'lavfi', '-i', 'testsrc=rate=25', '-f', 'null', '-'], {
      timeoutMs: 500,
    });
    t.true(r.timedOut);
    t.is(r.code, null);
  } finally {
    clearInterval(tick);
  }
  // The deadline ended it (timedOut, no exit code); and the wait did not block the event loop
  // (a synchronous spawn would leave it at 0 ticks). No wall-clock bound: a busy machine is slow.
  t.true(ticks >= 2, `the event loop ticked ${ticks} times while ffmpeg ran`);
});

testWith('ffmpeg')('the declared type fixes the demuxer; a mislabelled clip is not transcoded', async (t) => {
  const clip = testClip();
  const out = await audioForMms(clip, 30 * 1024, 'video/mp4');
  t.true(out.ok, out.note);
  const wrong = await audioForMms(clip, 30 * 1024, 'audio/amr');
  t.false(wrong.ok);
  t.is(await videoThumbnail(clip, 'audio/amr'), undefined);
});

testWith('ffmpeg')('a playlist naming a local file is never followed, labelled or not', async (t) => {
  // An HLS playlist pointing at a file on our disk: plain `ffmpeg -i` would transcode that file
  // (and we would send it to the attacker's recipient).
  const dir = mkdtempSync(join(tmpdir(), 'hls-'));
  const secret = join(dir, 'secret.ts');
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=duration=2',
    '-c:a',
    'aac',
    '-f',
    'mpegts',
    secret,
  ]);
  if (r.status !== 0) return t.fail(String(r.stderr));
  const playlist = Buffer.from(
    `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nfile://${secret}\n#EXT-X-ENDLIST\n`,
  );
  writeFileSync(join(dir, 'playlist.m3u8'), playlist);
  for (const type of [undefined, 'audio/mpeg', 'application/vnd.apple.mpegurl']) {
    const out = await audioForMms(playlist, 30 * 1024, type);
    t.false(out.ok, `${type}: ${out.note}`);
    t.like(await videoForMms(playlist, 100 * 1024, false, type), { ok: false }, String(type));
    t.is(await videoThumbnail(playlist, type), undefined);
  }
});
