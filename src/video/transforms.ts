// Pure functions on frames (height x width x channels, interleaved) and clips ([T, H, W, C]).
//
// The resize is bilinear with half-pixel centres and no antialiasing: the same as OpenCV's INTER_LINEAR,
// TensorFlow's resize_bilinear(half_pixel_centers=True) and PyTorch's interpolate(mode='bilinear',
// align_corners=False, antialias=False) (the fixture test checks it against PyTorch). We do it here rather
// than in ffmpeg because ffmpeg's 'bilinear' scaler averages over the source footprint when shrinking
// (it is closer to an antialiased resize) and differs from the official preprocessing by up to ~50/255.
import { randInt, type Rng } from '../core/rng.js';

export type Pixels = Uint8Array | Float32Array;

/** A rectangle of the resized image to produce: the crop, fused into the resize so only kept pixels are computed. */
export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

function axis(inSize: number, outSize: number, from: number, count: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(count);
  const i1 = new Int32Array(count);
  const w1 = new Float32Array(count);
  const scale = inSize / outSize;
  for (let k = 0; k < count; k++) {
    const src = Math.max(0, (from + k + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[k] = lo;
    i1[k] = Math.min(lo + 1, inSize - 1);
    w1[k] = src - lo;
  }
  return { i0, i1, w1 };
}

/**
 * A bilinear resize from inW x inH to outW x outH (C channels), restricted to `window` of the output, with
 * the index and weight tables computed once: reuse it for every frame of a clip.
 */
export class Resizer {
  readonly window: Window;
  readonly #x: ReturnType<typeof axis>;
  readonly #y: ReturnType<typeof axis>;

  constructor(
    readonly inWidth: number,
    readonly inHeight: number,
    readonly outWidth: number,
    readonly outHeight: number,
    readonly channels = 3,
    window?: Window,
  ) {
    this.window = window ?? { x: 0, y: 0, width: outWidth, height: outHeight };
    const w = this.window;
    if (w.x < 0 || w.y < 0 || w.x + w.width > outWidth || w.y + w.height > outHeight || w.width < 1 || w.height < 1)
      throw new RangeError(`Resizer: window ${w.width}x${w.height}+${w.x}+${w.y} is not inside ${outWidth}x${outHeight}`);
    this.#x = axis(inWidth, outWidth, w.x, w.width);
    this.#y = axis(inHeight, outHeight, w.y, w.height);
  }

  /**
   * Resizes `src` into `dst` at `offset`, as `a * value + b` (a = 2/255, b = -1 maps 0..255 to [-1, 1]).
   * Returns `dst`.
   */
  run(src: Pixels, dst: Float32Array, offset = 0, a = 1, b = 0): Float32Array {
    const C = this.channels;
    const { i0: x0, i1: x1, w1: wx } = this.#x;
    const { i0: y0, i1: y1, w1: wy } = this.#y;
    const W = this.window.width;
    const rowIn = this.inWidth * C;
    let o = offset;
    for (let j = 0; j < this.window.height; j++) {
      const r0 = y0[j]! * rowIn;
      const r1 = y1[j]! * rowIn;
      const fy = wy[j]!;
      const gy = 1 - fy;
      for (let i = 0; i < W; i++) {
        const c0 = x0[i]! * C;
        const c1 = x1[i]! * C;
        const fx = wx[i]!;
        const gx = 1 - fx;
        for (let c = 0; c < C; c++) {
          const top = src[r0 + c0 + c]! * gx + src[r0 + c1 + c]! * fx;
          const bot = src[r1 + c0 + c]! * gx + src[r1 + c1 + c]! * fx;
          dst[o++] = (top * gy + bot * fy) * a + b;
        }
      }
    }
    return dst;
  }
}

/** The size whose shorter side is `size`, aspect ratio kept (the other side rounded). */
export function shorterSide(width: number, height: number, size: number): { width: number; height: number } {
  return width <= height
    ? { width: size, height: Math.max(1, Math.round((height * size) / width)) }
    : { width: Math.max(1, Math.round((width * size) / height)), height: size };
}

/** Resizes a frame so its shorter side is `size` (bilinear, float output in the input's range). */
export function resizeShorter(
  src: Pixels,
  width: number,
  height: number,
  size: number,
  channels = 3,
): { data: Float32Array; width: number; height: number } {
  const out = shorterSide(width, height, size);
  const r = new Resizer(width, height, out.width, out.height, channels);
  return { data: r.run(src, new Float32Array(out.width * out.height * channels)), ...out };
}

export type CropMode = 'center' | 'random';

/** Top-left corner of a size x size crop: centred (floor((W - size) / 2)), or uniform over the valid positions. */
export function cropOffset(width: number, height: number, size: number, mode: CropMode = 'center', rng?: Rng): { x: number; y: number } {
  if (size > width || size > height) throw new RangeError(`cropOffset: a ${size}x${size} crop does not fit in ${width}x${height}`);
  if (mode === 'center') return { x: Math.floor((width - size) / 2), y: Math.floor((height - size) / 2) };
  if (mode !== 'random' || !rng) throw new RangeError(`cropOffset: mode must be 'center', or 'random' with an rng`);
  return { x: randInt(rng, width - size + 1), y: randInt(rng, height - size + 1) };
}

/** A width x height crop at (x, y) of a frame. */
export function crop<T extends Pixels>(src: T, srcWidth: number, x: number, y: number, width: number, height: number, channels = 3): T {
  const out = new (src.constructor as new (n: number) => T)(width * height * channels);
  for (let j = 0; j < height; j++) {
    const from = ((y + j) * srcWidth + x) * channels;
    out.set(src.subarray(from, from + width * channels), j * width * channels);
  }
  return out;
}

/** 0..255 to [-1, 1] (x / 255 * 2 - 1, as the official sample), as float32. */
export function toUnitRange(src: Pixels): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * (2 / 255) - 1;
  return out;
}

/**
 * Mirrors frames left-right in place: `data` holds whole rows of width x channels (any number of frames). With
 * `negateX` (optical flow: channel 0 is the horizontal motion) the first channel is negated too, since a
 * mirrored video moves the other way.
 */
export function flipHorizontal(data: Float32Array, width: number, channels: number, negateX = false): Float32Array {
  const row = width * channels;
  const rows = data.length / row;
  if (!Number.isInteger(rows)) throw new RangeError(`flipHorizontal: ${data.length} values are not whole rows of ${width}x${channels}`);
  for (let r = 0; r < rows; r++) {
    const base = r * row;
    for (let i = 0, j = width - 1; i < j; i++, j--) {
      for (let c = 0; c < channels; c++) {
        const a = base + i * channels + c;
        const b = base + j * channels + c;
        const t = data[a]!;
        data[a] = data[b]!;
        data[b] = t;
      }
    }
    if (negateX) for (let i = 0; i < width; i++) data[base + i * channels] = -data[base + i * channels]!;
  }
  return data;
}
