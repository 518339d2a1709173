// Decoding with ffmpeg, streamed: raw RGB frames come through a pipe one at a time, so a long video never sits
// whole in memory. ffmpeg resamples by timestamps (its fps filter: variable frame rates come out constant),
// applies the rotation (its default autorotate), and converts any pixel format to 8-bit RGB.
import {
  abortReason,
  DEFAULT_TIMEOUT_MS,
  ffmpegBin,
  readError,
  reportsTruncation,
  start,
  timeoutError,
  untrustedInputArgs,
} from './ffmpeg.js';
import { VideoError } from './errors.js';
import { DEFAULT_MAX_DURATION_SEC, probeVideo, type Limits, type VideoInfo } from './probe.js';
import { shorterSide } from './transforms.js';

export interface Frame {
  /** RGB, 8 bits per channel, rows top to bottom: height x width x 3 bytes. */
  data: Uint8Array;
  width: number;
  height: number;
  /** 0, 1, 2... in output order. */
  index: number;
  /** index / fps when resampled; index / the stated frame rate otherwise (an estimate for variable rates). */
  timeSec: number;
}

export interface DecodeOptions extends Limits {
  /** Resample to this frame rate by timestamps (the official I3D: 25). Undefined: every decoded frame, as stored. */
  fps?: number;
  /**
   * Let ffmpeg scale so the shorter side is this many pixels (bilinear). Fast, but ffmpeg's bilinear averages
   * when shrinking, so it differs from the official (OpenCV/PyTorch-style) bilinear; `loadClip` resizes in
   * TypeScript instead (see transforms.ts).
   */
  shorterSide?: number;
  /** Stop after this many frames (ffmpeg is killed; not an error). */
  maxFrames?: number;
  /** The probe, when the caller has it already. */
  info?: VideoInfo;
}

function ffmpegArgs(info: VideoInfo, filters: string[]): string[] {
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-sws_flags',
    'bilinear+accurate_rnd+full_chroma_int',
    ...untrustedInputArgs(), // every input: only local files, only single-file containers
    '-i',
    info.file,
    '-map',
    `0:${info.streamIndex}`,
    '-an',
    '-sn',
    '-dn',
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    '-fps_mode',
    'passthrough',
  ];
}

/**
 * Yields the frames of `file` as 8-bit RGB. Errors (VideoError) name the file: unreadable, no video stream,
 * cut short (after the frames that did decode), too large, too long, timeout. Stopping early (break) kills ffmpeg.
 */
export async function* decodeFrames(file: string, o: DecodeOptions = {}): AsyncGenerator<Frame, void, undefined> {
  const info = o.info ?? (await probeVideo(file, o));
  const { width, height } = o.shorterSide ? shorterSide(info.width, info.height, o.shorterSide) : info;
  const frameBytes = width * height * 3;
  const maxDur = o.maxDurationSec ?? DEFAULT_MAX_DURATION_SEC;
  const rate = o.fps ?? info.fps ?? 25;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const bin = ffmpegBin();
  const filters = o.fps !== undefined ? [`fps=${o.fps}`] : [];
  // Always an explicit size, so the frame size in the pipe is the one we expect even if the stream changes size.
  filters.push(`scale=${width}:${height}:flags=bilinear`, 'format=rgb24');
  const signal = o.signal;
  const p = await start(bin, [...ffmpegArgs(info, filters), '-f', 'rawvideo', 'pipe:1'], {
    file,
    timeoutMs,
    ...(signal ? { signal } : {}),
  });
  let index = 0;
  let finished = false;
  try {
    let buf = new Uint8Array(frameBytes);
    let filled = 0;
    for await (const chunk of p.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const timeSec = index / rate;
          if (timeSec > maxDur) throw new VideoError('TOO_LONG', file, `longer than the limit of ${maxDur} s`);
          yield { data: buf, width, height, index, timeSec };
          index++;
          if (o.maxFrames !== undefined && index >= o.maxFrames) return;
          buf = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
    const r = await p.exited;
    finished = true;
    if (signal?.aborted) throw abortReason(signal);
    if (r.timedOut) throw timeoutError(file, bin, timeoutMs);
    if (r.code !== 0) throw readError(file, p.stderr());
    if (reportsTruncation(p.stderr())) throw readError(file, p.stderr());
    if (index === 0) throw new VideoError('NO_FRAMES', file, 'the video stream decodes to no frames');
  } finally {
    // On break, throw or the frame limit: kill the process group and wait for it, so no ffmpeg outlives us.
    if (!finished) p.kill();
    await p.exited;
  }
}

/**
 * Counts frames by decoding (at `fps` when given, as the decoder outputs them otherwise); metadata is not
 * trusted (the .mkv files of the test data state no stream duration). Decoding stops past the duration limit.
 */
export async function countFrames(file: string, o: DecodeOptions = {}): Promise<number> {
  const info = o.info ?? (await probeVideo(file, o));
  const maxDur = o.maxDurationSec ?? DEFAULT_MAX_DURATION_SEC;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const bin = ffmpegBin();
  // No scaling or conversion is needed to count frames.
  const args = ffmpegArgs(info, o.fps !== undefined ? [`fps=${o.fps}`] : []);
  args.push('-t', String(maxDur + 1), '-f', 'null', '-progress', 'pipe:1', '-');
  const p = await start(bin, args, { file, timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
  let out = '';
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (s: string) => {
    out += s;
    if (out.length > 8192) out = out.slice(-4096);
  });
  const r = await p.exited;
  if (o.signal?.aborted) throw abortReason(o.signal);
  if (r.timedOut) throw timeoutError(file, bin, timeoutMs);
  if (r.code !== 0 || reportsTruncation(p.stderr())) throw readError(file, p.stderr());
  const m = [...out.matchAll(/^frame=(\d+)$/gm)].pop();
  const n = m ? Number(m[1]) : 0;
  if (n === 0) throw new VideoError('NO_FRAMES', file, 'the video stream decodes to no frames');
  const rate = o.fps ?? info.fps ?? 25;
  if (n / rate > maxDur) throw new VideoError('TOO_LONG', file, `longer than the limit of ${maxDur} s`);
  return n;
}
