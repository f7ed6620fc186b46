import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Audio/video with ffmpeg (Debian's build: libx264, AAC, H.263; no AMR encoder; docs/tooling-notes.md).
 * Optional: where ffmpeg is not installed every function reports it, and callers record that and
 * fall back (a download link) instead of failing the delivery.
 *
 * Inputs are hostile (any MMS/RCS sender chooses them), so every run is asynchronous (the worker's
 * event loop never waits on ffmpeg), killed with SIGKILL at its deadline, keeps a bounded amount of
 * ffmpeg's output, reads no stdin, may open local files and pipes only (`-protocol_whitelist`: no
 * playlist or reference can make it fetch a URL), and is given its demuxer: the one of the declared
 * content type, or else only the detection among the ordinary media containers (`-format_whitelist`:
 * no HLS/concat playlist, which could name other local files, nor any exotic demuxer).
 */
let available: Promise<boolean> | undefined;
export function ffmpegAvailable(): Promise<boolean> {
  available ??= runTool(['-version'], { timeoutMs: 10_000 }).then(
    (r) => r.code === 0,
    () => false,
  );
  return available;
}

export type Transcoded = { ok: true; bytes: Buffer; contentType: string; note: string } | { ok: false; note: string };

/** Demuxers (ffmpeg `-f` names) of the media types a handset sends. */
const DEMUXER: Record<string, string> = {
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'video/3gpp2': '3g2',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/x-matroska': 'matroska',
  'video/mpeg': 'mpeg',
  'video/mp2t': 'mpegts',
  'video/x-msvideo': 'avi',
  'video/avi': 'avi',
  'audio/mp4': 'mp4',
  'audio/m4a': 'mp4',
  'audio/x-m4a': 'mp4',
  'audio/3gpp': '3gp',
  'audio/3gpp2': '3g2',
  'audio/aac': 'aac',
  'audio/aacp': 'aac',
  'audio/amr': 'amr',
  'audio/amr-wb': 'amr',
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/ogg': 'ogg',
  'audio/opus': 'ogg',
  'video/ogg': 'ogg',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/webm': 'webm',
  'audio/flac': 'flac',
};
/** What detection may pick when the type is unknown: the same containers, nothing else. */
const DETECTABLE = 'mov,matroska,webm,mpeg,mpegts,avi,aac,amr,mp3,ogg,wav,flac';

/** The demuxer of a content type (parameters and case ignored); undefined when unknown. */
export function demuxerOf(contentType: string | undefined): string | undefined {
  const essence = contentType?.split(';')[0].trim().toLowerCase();
  return essence ? DEMUXER[essence] : undefined;
}

/** ffmpeg's input options for a file of this type (see the module comment). */
function inputArgs(path: string, contentType: string | undefined): string[] {
  const f = demuxerOf(contentType);
  return [
    '-nostdin',
    '-protocol_whitelist',
    'file,pipe',
    ...(f ? ['-f', f] : ['-format_whitelist', DETECTABLE]),
    '-i',
    path,
  ];
}

/** ffmpeg's stderr kept per run: its head (where the probe report is) and its tail (the error). */
const STDERR_HEAD = 64 * 1024;
const STDERR_TAIL = 2000;

/**
 * One asynchronous ffmpeg run, SIGKILLed at `timeoutMs`; stdout is discarded, stderr bounded.
 * Exported for tests only.
 */
export function runTool(
  args: string[],
  o: { timeoutMs: number },
): Promise<{ code: number | null; timedOut: boolean; head: string; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let head = '';
    let tail = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (head.length < STDERR_HEAD) head += d.slice(0, STDERR_HEAD - head.length);
      tail = (tail + d).slice(-STDERR_TAIL);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // 'close' (not 'exit'): stderr is fully read by then.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, head, tail });
    });
  });
}

async function withInput<T>(input: Buffer, f: (dir: string, inPath: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'iwf-ff-'));
  try {
    const inPath = join(dir, 'in');
    await writeFile(inPath, input, { mode: 0o600 });
    return await f(dir, inPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs ffmpeg on `input` and returns what it wrote. The output file is capped at `maxOutBytes`
 * (`-fs`); ffmpeg stops there without an error, so an output that reached the cap is refused as
 * truncated rather than returned.
 */
async function run(
  args: string[],
  input: Buffer,
  o: { contentType?: string; outExt: string; maxOutBytes: number; timeoutMs?: number },
): Promise<Buffer> {
  const timeoutMs = o.timeoutMs ?? 120_000;
  return withInput(input, async (dir, inPath) => {
    const outPath = join(dir, `out.${o.outExt}`);
    const r = await runTool(
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        ...inputArgs(inPath, o.contentType),
        ...args,
        '-fs',
        String(o.maxOutBytes),
        outPath,
      ],
      { timeoutMs },
    );
    if (r.timedOut) throw new Error(`ffmpeg killed after ${timeoutMs / 1000} s`);
    if (r.code !== 0) throw new Error(`ffmpeg exited ${r.code}: ${r.tail.trim()}`);
    const size = (await stat(outPath)).size;
    if (size >= o.maxOutBytes) throw new Error(`ffmpeg output reached the ${o.maxOutBytes}-byte cap`);
    return readFile(outPath);
  });
}

/** Duration in seconds from ffmpeg's probe output (ffprobe is not always installed beside it). */
async function durationSeconds(input: Buffer, contentType: string | undefined): Promise<number | undefined> {
  return withInput(input, async (_dir, inPath) => {
    // Without an output ffmpeg exits 1 after printing the input's report: that report is the answer.
    const r = await runTool(['-hide_banner', ...inputArgs(inPath, contentType)], { timeoutMs: 30_000 });
    if (r.timedOut) return undefined;
    const m = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(r.head);
    return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
  });
}

/**
 * A 160x120-bounded JPEG of a video's first frame, for FT-over-HTTP thumbnails. `contentType`,
 * when given, fixes the demuxer.
 */
export async function videoThumbnail(video: Buffer, contentType?: string): Promise<Buffer | undefined> {
  if (!(await ffmpegAvailable())) return undefined;
  try {
    return await run(
      ['-frames:v', '1', '-vf', 'scale=160:120:force_original_aspect_ratio=decrease', '-f', 'mjpeg'],
      video,
      { contentType, outExt: 'jpg', maxOutBytes: 1024 * 1024, timeoutMs: 30_000 },
    );
  } catch {
    return undefined;
  }
}

/** Output cap of a transcode: above the budget (a result over it is retried smaller, not cut). */
const outCap = (maxBytes: number) => Math.max(2 * maxBytes, 1024 * 1024);

/**
 * Video for MMS (OMA-TS-MMS_CONF content classes; docs/tooling-notes.md): 3GPP with H.264 Constrained Baseline (or
 * H.263 QCIF for the Video Basic class) and AAC-LC mono; the video bitrate is derived from the
 * byte budget and the clip's duration, and lowered until the result fits. `contentType`, when
 * given, fixes the demuxer.
 */
export async function videoForMms(
  video: Buffer,
  maxBytes: number,
  h263: boolean,
  contentType?: string,
): Promise<Transcoded> {
  if (!(await ffmpegAvailable())) return { ok: false, note: 'video not transcoded: ffmpeg is not installed' };
  const seconds = await durationSeconds(video, contentType);
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
      const out = await run(args, video, { contentType, outExt: '3gp', maxOutBytes: outCap(maxBytes) });
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
export async function audioForMms(audio: Buffer, maxBytes: number, contentType?: string): Promise<Transcoded> {
  if (!(await ffmpegAvailable())) return { ok: false, note: 'audio not transcoded: ffmpeg is not installed' };
  for (const kbps of [32, 24, 16, 12]) {
    try {
      const out = await run(
        ['-vn', '-c:a', 'aac', '-ar', '16000', '-ac', '1', '-b:a', `${kbps}k`, '-f', '3gp'],
        audio,
        { contentType, outExt: '3gp', maxOutBytes: outCap(maxBytes) },
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
