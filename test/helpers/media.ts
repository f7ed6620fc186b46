import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A 640x480 H.264 test pattern (with noise, so it does not compress to nothing) made by ffmpeg
 * itself (lavfi testsrc), optionally with a 440 Hz tone as AAC; an MP4 file's bytes.
 */
export function ffmpegTestClip(o: { seconds: number; tone?: boolean }): Buffer {
  const out = join(mkdtempSync(join(tmpdir(), 'clip-')), 'clip.mp4');
  const video = ['-f', 'lavfi', '-i', `testsrc=size=640x480:rate=25:duration=${o.seconds}`];
  const audio = o.tone ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=8000:duration=${o.seconds}`] : [];
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    ...video,
    ...audio,
    '-vf',
    'noise=alls=40:allf=t',
    '-c:v',
    'libx264',
    '-b:v',
    '1500k',
    ...(o.tone ? ['-c:a', 'aac', '-shortest'] : []),
    out,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test clip: ${String(r.stderr)}`);
  return readFileSync(out);
}
