// A video file to the model's input, as the official I3D preprocesses it: frames at 25 fps, shorter side resized
// to 256 (bilinear), a 224 x 224 crop (centre for test, random for training), values in [-1, 1]; clips in the
// seed's layout [1, T, 224, 224, 3], or [1, S, T, 224, 224, 3] with segments (I3D-LSTM).
import { deriveSeed, mulberry32, type Rng } from '../core/rng.js';
import { countFrames, decodeFrames } from './decode.js';
import { frameCacheKey, getCachedVideo, putCachedVideo } from './frame-cache.js';
import { VideoError } from './errors.js';
import { probeVideo, type Limits, type VideoInfo } from './probe.js';
import { clipIndices, type ClipSampling } from './sample.js';
import { cropOffset, flipHorizontal, Resizer, shorterSide, type CropMode } from './transforms.js';

export interface ClipOptions extends Limits {
  /** Frames per clip (per segment with `segments`), or 'all': the whole video, one clip (no segments). */
  frames: number | 'all';
  /** Segments spread evenly over the video (I3D-LSTM): the clip is [1, S, T, size, size, 3]. */
  segments?: number;
  /** Crop side (default 224). */
  size?: number;
  /** Shorter side after resizing, before the crop (default 256); false: no resize (frames must be at least `size`). */
  resize?: number | false;
  /** 'center' (test, default) or 'random' (training). */
  crop?: CropMode;
  /** Frame rate the video is resampled to, by timestamps (default 25). */
  fps?: number;
  /**
   * Which frames: 'window' (default, the official I3D: consecutive frames at `fps`) or 'spread' (the seed's
   * videoto3D.py: single frames spread evenly over the video; no segments).
   */
  temporal?: 'window' | 'spread';
  /** Temporal jitter: random window starts (default: true when crop is 'random'). */
  jitter?: boolean;
  /** Mirror the clip left-right. */
  flip?: boolean;
  /** Seed of the random crop and jitter (default 0). */
  seed?: number;
  /** The frame count at `fps`, when known (skips the counting pass). */
  totalFrames?: number;
  /** The probe, when known. */
  info?: VideoInfo;
  /**
   * Byte budget of an in-memory cache of decoded videos in this process (default 0: off). With a budget, a video
   * is decoded once, whole, and later clips of it (each with its own crop, flip and jitter) come from memory.
   */
  frameCache?: number;
}

export interface Clip {
  /** Float32 values in [-1, 1], C order, channels last. */
  data: Float32Array;
  /** [1, T, size, size, 3] or [1, S, T, size, size, 3]. */
  shape: number[];
  /** Frames of the video at `fps` (counted by decoding). */
  totalFrames: number;
  /** The video frame (at `fps`) behind each clip frame, in clip order. */
  indices: number[];
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`loadClip: '${name}' must be a positive integer, got ${String(v)}`);
  return v;
}

/** Videos up to this many decoded bytes are decoded whole when a clip of them is loaded (the stated duration). */
const WHOLE_DECODE_BYTES = 64 * 2 ** 20;

/** The bytes of `info`'s RGB frames at `fps` over its stated duration; Infinity when no duration is stated. */
function decodedBytes(info: VideoInfo, fps: number): number {
  if (info.duration === undefined) return Infinity;
  return Math.ceil(info.duration * fps + 1) * info.width * info.height * 3;
}

/** Loads `file` as a clip; errors are VideoErrors naming the file. */
export async function loadClip(file: string, o: ClipOptions): Promise<Clip> {
  const size = positiveInt('size', o.size ?? 224);
  const resize = o.resize === false ? false : positiveInt('resize', o.resize ?? 256);
  if (resize !== false && resize < size) throw new RangeError(`loadClip: 'resize' (${resize}) must be at least 'size' (${size})`);
  const fps = o.fps ?? 25;
  if (!(fps > 0 && fps <= 240)) throw new RangeError(`loadClip: 'fps' must be in (0, 240], got ${fps}`);
  const cropMode = o.crop ?? 'center';
  if (cropMode !== 'center' && cropMode !== 'random')
    throw new RangeError(`loadClip: 'crop' must be 'center' or 'random', got ${String(cropMode)}`);
  const all = o.frames === 'all';
  const T = all ? 0 : positiveInt('frames', o.frames);
  const S = o.segments === undefined ? 0 : positiveInt('segments', o.segments);
  if (all && S) throw new RangeError(`loadClip: frames 'all' takes no segments`);
  const temporal = o.temporal ?? 'window';
  if (temporal === 'spread' && S) throw new RangeError(`loadClip: temporal 'spread' takes no segments`);
  const seed = o.seed ?? 0;
  // Independent streams for space and time (clipIndices: deriveSeed(seed, 2)), so one choice does not shift the other.
  const spaceRng: Rng = mulberry32(deriveSeed(seed, 1));
  const sampling: ClipSampling = { frames: all ? 'all' : T, segments: S, temporal, jitter: o.jitter ?? cropMode === 'random', seed };

  const budget = o.frameCache ?? 0;
  let key: string | null = null;
  try {
    key = budget > 0 ? frameCacheKey(file, fps) : null;
  } catch {
    key = null; // a missing file: the probe below reports it
  }
  let cached = key ? getCachedVideo(key) : undefined;
  const info = o.info ?? cached?.info ?? (await probeVideo(file, o));
  const rs = resize === false ? info : shorterSide(info.width, info.height, resize);
  if (rs.width < size || rs.height < size)
    throw new VideoError('TOO_SMALL', file, `${rs.width}x${rs.height} frames are smaller than the ${size}x${size} crop (resize them)`);
  const off = cropOffset(rs.width, rs.height, size, cropMode, spaceRng);
  const resizer = new Resizer(info.width, info.height, rs.width, rs.height, 3, { x: off.x, y: off.y, width: size, height: size });
  const frameLen = size * size * 3;
  const decodeOpts = { ...o, fps, info };

  // A short video whose frame count is not known is decoded once, whole, into memory, as the cache does: one ffmpeg
  // run instead of a counting run and a decoding run (each start of ffmpeg costs 0.3-0.6 s on some VMs).
  const stated = decodedBytes(info, fps);
  const whole = !all && o.totalFrames === undefined && stated <= WHOLE_DECODE_BYTES;
  if ((key || whole) && !cached) {
    // Memory stays bounded when the video is more than twice as long as it states, or larger than the cache's
    // budget: past the limit the decode stops and the clip is read the streaming way below.
    const limit = Math.max(key ? budget : 0, whole ? 2 * stated : 0);
    const frames: Uint8Array[] = [];
    let bytes = 0;
    for await (const f of decodeFrames(file, decodeOpts)) {
      bytes += f.data.length;
      if (bytes > limit) break;
      frames.push(f.data);
    }
    if (bytes <= limit) {
      cached = { frames, info, bytes };
      if (key) putCachedVideo(key, cached, budget);
    }
  }

  let data: Float32Array;
  let indices: number[];
  let total: number;
  if (cached) {
    const frames = cached.frames;
    total = frames.length;
    if (!total) throw new VideoError('NO_FRAMES', file, 'the video stream decodes to no frames');
    indices = clipIndices(total, sampling);
    data = new Float32Array(indices.length * frameLen);
    indices.forEach((f, k) => resizer.run(frames[f]!, data, k * frameLen, 2 / 255, -1));
  } else if (all) {
    const parts: Float32Array[] = [];
    for await (const f of decodeFrames(file, decodeOpts)) parts.push(resizer.run(f.data, new Float32Array(frameLen), 0, 2 / 255, -1));
    total = parts.length;
    data = new Float32Array(total * frameLen);
    parts.forEach((p, i) => data.set(p, i * frameLen));
    indices = parts.map((_, i) => i);
  } else {
    total = o.totalFrames ?? (await countFrames(file, decodeOpts));
    indices = clipIndices(total, sampling);
    const wanted = new Map<number, number[]>();
    indices.forEach((v, k) => wanted.set(v, [...(wanted.get(v) ?? []), k]));
    const last = Math.max(...indices);
    data = new Float32Array(indices.length * frameLen);
    let seen = 0;
    for await (const f of decodeFrames(file, { ...decodeOpts, maxFrames: last + 1 })) {
      const at = wanted.get(f.index);
      seen = f.index + 1;
      if (!at) continue;
      resizer.run(f.data, data, at[0]! * frameLen, 2 / 255, -1);
      for (const k of at.slice(1)) data.copyWithin(k * frameLen, at[0]! * frameLen, (at[0]! + 1) * frameLen);
    }
    if (seen <= last) throw new VideoError('TRUNCATED', file, `decoded ${seen} frames at ${fps} fps, expected ${total}`);
  }
  if (o.flip) flipHorizontal(data, size, 3);
  const shape = S ? [1, S, T, size, size, 3] : [1, all ? total : T, size, size, 3];
  return { data, shape, totalFrames: total, indices };
}
