// What a video file holds, from ffprobe: size after rotation, codec, pixel format, frame rate and duration when known.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { VideoError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, ffprobeBin, lastLine, readError, run, SAFE_FORMATS, untrustedInputArgs } from './ffmpeg.js';

export interface VideoInfo {
  file: string;
  /** The container, as ffprobe names it (e.g. 'matroska,webm'). */
  container: string;
  /** Index of the video stream we decode (the first one that is not cover art). */
  streamIndex: number;
  codec: string;
  /** The stored pixel format (e.g. 'yuv420p', 'gray', 'yuv420p10le'); frames are always decoded to 8-bit RGB. */
  pixFmt: string;
  /** Width and height as displayed: after the rotation is applied. */
  width: number;
  height: number;
  /**
   * Rotation from the display matrix (counterclockwise, as ffprobe reports it) or the `rotate` tag, in degrees
   * (0, 90, 180 or 270); ffmpeg applies it when decoding.
   */
  rotation: number;
  /** Average frame rate, when the file states one. */
  fps?: number;
  /** Duration in seconds, when the stream or the container states one (the .mkv files here state none per stream). */
  duration?: number;
  /** Frame count, when the container states one (never trusted for sampling: frames are counted by decoding). */
  framesStated?: number;
}

export interface Limits {
  /** Largest width x height accepted (default 3840 x 2160 x 1.5, about 12.4 megapixels). */
  maxPixels?: number;
  /** Longest duration accepted, in seconds (default 1800). Checked here when stated, and while decoding. */
  maxDurationSec?: number;
  /** Hard time limit of each ffmpeg/ffprobe run, in ms (default 120 000). */
  timeoutMs?: number;
  /**
   * The file is untrusted (an upload). Every input is now read as one: ffprobe and ffmpeg may read it only through
   * the `file` protocol with the demuxers of SAFE_FORMATS, and a probed format outside them is refused (UNREADABLE)
   * before any decoding, so a playlist (HLS, ffconcat, SDP) can open neither another file nor a connection.
   * Kept for callers that state it.
   */
  untrusted?: boolean;
  /** Aborting kills this file's ffprobe/ffmpeg and fails with the signal's reason. */
  signal?: AbortSignal;
}

export const DEFAULT_MAX_PIXELS = Math.round(3840 * 2160 * 1.5);
export const DEFAULT_MAX_DURATION_SEC = 1800;

interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

function rate(r: string | undefined): number | undefined {
  if (!r) return undefined;
  const [n, d] = r.split('/').map(Number);
  const v = d ? n! / d : Number(r);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function positive(s: string | undefined): number | undefined {
  const v = s === undefined ? NaN : Number(s);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Checks that `file` exists and is not empty (before ffmpeg sees it, for clear messages). */
export function checkFile(file: string): void {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new VideoError('NOT_FOUND', file, 'not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof VideoError) throw e;
    throw new VideoError('NOT_FOUND', file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size === 0) throw new VideoError('EMPTY', file, 'the file is empty (0 bytes)');
}

/** Probes `file` with ffprobe and checks the size and (stated) duration limits. */
/** True when the file's first 4 KiB are text: no NUL byte, no control characters but tab, newline and return. */
function looksLikeText(file: string): boolean {
  let head: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      head = Buffer.alloc(4096);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  return head.length > 0 && head.every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0d);
}

export async function probeVideo(file: string, limits: Limits = {}): Promise<VideoInfo> {
  checkFile(file);
  const timeoutMs = limits.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const safe = untrustedInputArgs();
  const r = await run(ffprobeBin(), ['-v', 'error', ...safe, '-show_streams', '-show_format', '-of', 'json', '--', file], {
    file,
    timeoutMs,
    ...(limits.signal ? { signal: limits.signal } : {}),
  });
  if (r.code !== 0) {
    // With the safe demuxers only, ffprobe says just "Invalid argument" for a file in no video format: a text file
    // (a label map, a list passed by mistake) is worth naming as such.
    if (looksLikeText(file)) throw new VideoError('UNREADABLE', file, 'a text file, not a video');
    throw readError(file, r.stderr);
  }
  let j: { streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } };
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    throw new VideoError('UNREADABLE', file, `ffprobe gave no readable description (${lastLine(r.stderr) || 'no message'})`);
  }
  const formatName = j.format?.format_name ?? '';
  if (!formatName.split(',').every((f) => SAFE_FORMATS.includes(f)))
    throw new VideoError(
      'UNREADABLE',
      file,
      `the ${formatName || 'unknown'} format is not accepted here (playlists and indirections are refused)`,
    );
  const streams = j.streams ?? [];
  const s = streams.find((x) => x.codec_type === 'video' && !x.disposition?.attached_pic);
  if (!s) {
    const kinds = [...new Set(streams.map((x) => (x.disposition?.attached_pic ? 'cover art' : (x.codec_type ?? 'unknown'))))];
    throw new VideoError('NO_VIDEO_STREAM', file, `no video stream (${kinds.length ? `only ${kinds.join(', ')}` : 'no streams at all'})`);
  }
  // ffmpeg renders any text file as a video of ANSI art (the 'tty' demuxer): that is never a real video.
  if (j.format?.format_name === 'tty' || s.codec_name === 'ansi')
    throw new VideoError('UNREADABLE', file, 'a text file, not a video (ffmpeg would only render its characters)');
  if (!s.width || !s.height)
    throw new VideoError('UNREADABLE', file, `the video stream (${s.codec_name ?? 'unknown codec'}) has no frame size`);
  const matrix = s.side_data_list?.find((d) => d.side_data_type === 'Display Matrix' && typeof d.rotation === 'number')?.rotation;
  const raw = matrix ?? (s.tags?.rotate !== undefined ? Number(s.tags.rotate) : 0);
  const rotation = (((Math.round((Number.isFinite(raw) ? raw : 0) / 90) * 90) % 360) + 360) % 360;
  const swap = rotation === 90 || rotation === 270;
  const fps = rate(s.avg_frame_rate) ?? rate(s.r_frame_rate);
  const duration = positive(s.duration) ?? positive(j.format?.duration);
  const framesStated = positive(s.nb_frames);
  const info: VideoInfo = {
    file,
    container: j.format?.format_name ?? 'unknown',
    streamIndex: s.index,
    codec: s.codec_name ?? 'unknown',
    pixFmt: s.pix_fmt ?? 'unknown',
    width: swap ? s.height : s.width,
    height: swap ? s.width : s.height,
    rotation,
    ...(fps !== undefined && { fps }),
    ...(duration !== undefined && { duration }),
    ...(framesStated !== undefined && { framesStated }),
  };
  checkLimits(info, limits);
  return info;
}

/** TOO_LARGE / TOO_LONG when the probed size or stated duration exceeds the limits. */
export function checkLimits(info: VideoInfo, limits: Limits): void {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxDur = limits.maxDurationSec ?? DEFAULT_MAX_DURATION_SEC;
  if (info.width * info.height > maxPixels)
    throw new VideoError('TOO_LARGE', info.file, `${info.width}x${info.height} is above the limit of ${maxPixels} pixels per frame`);
  if (info.duration !== undefined && info.duration > maxDur)
    throw new VideoError('TOO_LONG', info.file, `${info.duration.toFixed(1)} s is above the limit of ${maxDur} s`);
}
