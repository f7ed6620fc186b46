import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Audio/video with ffmpeg (Debian's build: libx264, AAC, H.263; no AMR encoder; docs/tooling-notes.md).
 * Optional: where ffmpeg is not installed every function reports it, and callers record that and
 * fall back (a download link) instead of failing the delivery.
 */
let available: boolean | undefined;
export function ffmpegAvailable(): boolean {
  available ??= spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).error === undefined;
  return available;
}

export type Transcoded = { ok: true; bytes: Buffer; contentType: string; note: string } | { ok: false; note: string };

async function run(args: string[], input: Buffer, outExt: string, timeoutMs = 120_000): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'iwf-ff-'));
  try {
    const inPath = join(dir, 'in');
    const outPath = join(dir, `out.${outExt}`);
    await writeFile(inPath, input);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'ffmpeg',
        ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', inPath, ...args, outPath],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`ffmpeg exited ${code}: ${err.trim()}`));
      });
    });
    return await readFile(outPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Duration in seconds from ffmpeg's probe output (ffprobe is not always installed beside it). */
async function durationSeconds(input: Buffer): Promise<number | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'iwf-ff-'));
  try {
    await writeFile(join(dir, 'in'), input);
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-i', join(dir, 'in')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    const m = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(r.stderr ?? '');
    return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A 160x120-bounded JPEG of a video's first frame, for FT-over-HTTP thumbnails. */
export async function videoThumbnail(video: Buffer): Promise<Buffer | undefined> {
  if (!ffmpegAvailable()) return undefined;
  try {
    return await run(
      ['-frames:v', '1', '-vf', 'scale=160:120:force_original_aspect_ratio=decrease', '-f', 'mjpeg'],
      video,
      'jpg',
      30_000,
    );
  } catch {
    return undefined;
  }
}

/**
 * Video for MMS (OMA-TS-MMS_CONF content classes; docs/tooling-notes.md): 3GPP with H.264 Constrained Baseline (or
 * H.263 QCIF for the Video Basic class) and AAC-LC mono; the video bitrate is derived from the
 * byte budget and the clip's duration, and lowered until the result fits.
 */
export async function videoForMms(video: Buffer, maxBytes: number, h263: boolean): Promise<Transcoded> {
  if (!ffmpegAvailable()) return { ok: false, note: 'video not transcoded: ffmpeg is not installed' };
  const seconds = await durationSeconds(video);
  if (!seconds) return { ok: false, note: 'video not transcoded: its duration cannot be read' };
  const audioKbps = 16;
  // 90% of the budget for the streams, the rest for the container.
  let videoKbps = Math.floor((maxBytes * 8 * 0.9) / seconds / 1000) - audioKbps;
  for (let tries = 0; tries < 4 && videoKbps >= 16; tries++) {
    const v = h263
      ? ['-c:v', 'h263', '-s', '176x144', '-r', '10']
      : [
          '-c:v',
          'libx264',
          '-profile:v',
          'baseline',
          '-level',
          '1.2',
          '-pix_fmt',
          'yuv420p',
          '-vf',
          'scale=320:240:force_original_aspect_ratio=decrease,scale=trunc(iw/2)*2:trunc(ih/2)*2',
          '-r',
          '15',
        ];
    const args = [
      ...v,
      '-b:v',
      `${videoKbps}k`,
      '-maxrate',
      `${videoKbps}k`,
      '-bufsize',
      `${videoKbps * 2}k`,
      '-c:a',
      'aac',
      '-ar',
      '16000',
      '-ac',
      '1',
      '-b:a',
      `${audioKbps}k`,
      '-movflags',
      '+faststart',
      '-f',
      '3gp',
    ];
    try {
      const out = await run(args, video, '3gp');
      if (out.length <= maxBytes) {
        return {
          ok: true,
          bytes: out,
          contentType: 'video/3gpp',
          note: `video transcoded: ${video.length} B -> 3gp ${h263 ? 'H.263' : 'H.264'} ${videoKbps} kbit/s ${out.length} B`,
        };
      }
    } catch (e) {
      return { ok: false, note: `video not transcoded: ${(e as Error).message.slice(0, 200)}` };
    }
    videoKbps = Math.floor(videoKbps * 0.7);
  }
  return { ok: false, note: `video does not fit ${maxBytes} bytes at any bitrate tried` };
}

/** Audio for MMS: AAC-LC mono in 3GPP (Debian's ffmpeg has no AMR-NB encoder, docs/tooling-notes.md). */
export async function audioForMms(audio: Buffer, maxBytes: number): Promise<Transcoded> {
  if (!ffmpegAvailable()) return { ok: false, note: 'audio not transcoded: ffmpeg is not installed' };
  for (const kbps of [32, 24, 16, 12]) {
    try {
      const out = await run(
        ['-vn', '-c:a', 'aac', '-ar', '16000', '-ac', '1', '-b:a', `${kbps}k`, '-f', '3gp'],
        audio,
        '3gp',
      );
      if (out.length <= maxBytes)
        return {
          ok: true,
          bytes: out,
          contentType: 'audio/3gpp',
          note: `audio transcoded: ${audio.length} B -> 3gp AAC ${kbps} kbit/s ${out.length} B`,
        };
    } catch (e) {
      return { ok: false, note: `audio not transcoded: ${(e as Error).message.slice(0, 200)}` };
    }
  }
  return { ok: false, note: `audio does not fit ${maxBytes} bytes` };
}
