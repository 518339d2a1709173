// Which frames make a clip: pure functions from a frame count (after resampling to 25 fps) to frame indices.
//
// - `windowIndices` (the official I3D): `count` consecutive frames; the centred window for test, a random start
//   for training (temporal jitter).
// - `segmentIndices` (the seed's I3D-LSTM): the video cut into `segments` equal parts, one window of
//   `framesPerSegment` consecutive frames in each (centred in its part for test, at a random start inside it
//   for training), so the segments are spread evenly over the whole video.
// - `sampleIndices` (the seed's videoto3D.py): `count` single frames spread evenly, frame floor(k * total / count)
//   for k = 0..count-1 (random mode: a uniform position inside each of those bins).
//
// Short videos are looped, as the I3D paper did ("we looped the video as many times as necessary to satisfy each
// model's input interface"): when a window needs more frames than the video has, frame j of the window is video
// frame (start + j) mod total, with start 0 for test and a random start for training. A segment whose part is
// shorter than its window takes the window centred on its part, moved inside the video (so windows overlap),
// and loops only when the whole video is shorter than one window. `sampleIndices` with total < count also loops
// (k mod total) rather than repeating each frame (which would be slow motion).
//
// `clipIndices` picks among them from a clip's options; the RGB and the flow clip loaders both call it.
import { deriveSeed, mulberry32, randInt, type Rng } from '../core/rng.js';

export type SampleMode = 'even' | 'random';

export interface SampleOptions {
  /** 'even' (test, deterministic) or 'random' (training: temporal jitter). Default 'even'. */
  mode?: SampleMode;
  /** Uniform [0, 1) numbers; needed for 'random'. */
  rng?: Rng;
}

function check(where: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${where}: '${name}' must be an integer >= ${min}, got ${v}`);
}

function rngOf(where: string, o: SampleOptions): Rng | null {
  if ((o.mode ?? 'even') === 'even') return null;
  if (o.mode !== 'random') throw new RangeError(`${where}: 'mode' must be 'even' or 'random', got ${String(o.mode)}`);
  if (!o.rng) throw new RangeError(`${where}: mode 'random' needs an rng`);
  return o.rng;
}

/** `count` frames spread evenly over `total` (the seed's rule); loops when total < count. */
export function sampleIndices(total: number, count: number, o: SampleOptions = {}): number[] {
  check('sampleIndices', 'total', total, 1);
  check('sampleIndices', 'count', count, 1);
  const rng = rngOf('sampleIndices', o);
  if (total < count) {
    const start = rng ? randInt(rng, total) : 0;
    return Array.from({ length: count }, (_, k) => (start + k) % total);
  }
  return Array.from({ length: count }, (_, k) => Math.min(total - 1, Math.floor(((k + (rng ? rng() : 0)) * total) / count)));
}

/** `count` consecutive frames: the centred window, or one at a random start; loops when total < count. */
export function windowIndices(total: number, count: number, o: SampleOptions = {}): number[] {
  check('windowIndices', 'total', total, 1);
  check('windowIndices', 'count', count, 1);
  const rng = rngOf('windowIndices', o);
  const start = total < count ? (rng ? randInt(rng, total) : 0) : rng ? randInt(rng, total - count + 1) : Math.floor((total - count) / 2);
  return Array.from({ length: count }, (_, j) => (start + j) % total);
}

/** `segments` windows of `framesPerSegment` consecutive frames, one per equal part of the video. */
export function segmentIndices(total: number, segments: number, framesPerSegment: number, o: SampleOptions = {}): number[][] {
  check('segmentIndices', 'total', total, 1);
  check('segmentIndices', 'segments', segments, 1);
  check('segmentIndices', 'framesPerSegment', framesPerSegment, 1);
  const rng = rngOf('segmentIndices', o);
  const F = framesPerSegment;
  return Array.from({ length: segments }, (_, s) => {
    if (total < F) return windowIndices(total, F, o);
    const a = Math.floor((s * total) / segments);
    const len = Math.floor(((s + 1) * total) / segments) - a;
    let start: number;
    if (len >= F) start = a + (rng ? randInt(rng, len - F + 1) : Math.floor((len - F) / 2));
    else start = Math.min(total - F, Math.max(0, a - Math.floor((F - len) / 2)));
    return Array.from({ length: F }, (_, j) => start + j);
  });
}

/** What a clip's frames are, as the clip loaders' options give it (see ClipOptions in clip.ts). */
export interface ClipSampling {
  /** Frames per clip (per segment with `segments`), or 'all': every frame, in order. */
  frames: number | 'all';
  /** Segments spread evenly over the video (`segmentIndices`). */
  segments?: number;
  /** 'window' (default: `windowIndices`) or 'spread' (`sampleIndices`); without segments. */
  temporal?: 'window' | 'spread';
  /** Random window starts (temporal jitter) instead of centred ones. */
  jitter?: boolean;
  /** Seed of the jitter (default 0); its own stream, deriveSeed(seed, 2), apart from the crop's. */
  seed?: number;
}

/** The video frames (of `total`) behind each frame of a clip, in clip order (segments flattened). */
export function clipIndices(total: number, o: ClipSampling): number[] {
  if (o.frames === 'all') return Array.from({ length: total }, (_, i) => i);
  const so: SampleOptions = { mode: o.jitter ? 'random' : 'even', rng: mulberry32(deriveSeed(o.seed ?? 0, 2)) };
  if (o.segments) return segmentIndices(total, o.segments, o.frames, so).flat();
  return o.temporal === 'spread' ? sampleIndices(total, o.frames, so) : windowIndices(total, o.frames, so);
}
