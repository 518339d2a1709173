// Optical flow for the flow stream of I3D: TV-L1 on grayscale frames, as the official models were trained, by OpenCV's
// DualTVL1OpticalFlow through the addon or by our own implementation of the same algorithm (native/tvl1.cc, several
// times cheaper; see docs/benchmarks.md); then clipped to [-bound, bound] and divided by bound (bound 20), channels (x, y).
import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { native, type Tvl1NativeArgs } from '../native/binding.js';
import { ArgumentError, fail, finite, int } from '../tensor/validate.js';

/** A grayscale frame, row-major: 8-bit (0..255) or float32 in [0, 1] (OpenCV scales float frames by 255). */
export type GrayFrame = Uint8Array | Float32Array;

/** TV-L1 parameters (OpenCV's DualTVL1OpticalFlow; the defaults are OpenCV's). */
export interface Tvl1Params {
  /** Time step of the numerical scheme. */
  tau: number;
  /** Weight of the data term: smaller gives smoother flow. */
  lambda: number;
  /** Coupling of the two variables of the scheme. */
  theta: number;
  /** Pyramid levels. */
  scales: number;
  /** Warps per pyramid level. */
  warps: number;
  /** Stopping threshold of the inner iterations. */
  epsilon: number;
  innerIterations: number;
  outerIterations: number;
  /** Downscale factor between pyramid levels, in (0, 1). */
  scaleStep: number;
  /** Weight of the illumination term (0: none). */
  gamma: number;
  /** Median filter size applied to the flow after each warp: 1 (none), 3 or 5. */
  medianFiltering: number;
}

/** OpenCV 4's defaults for cv::optflow::DualTVL1OpticalFlow::create(), the usual choice for I3D's flow stream. */
export const TVL1_DEFAULTS: Readonly<Tvl1Params> = Object.freeze({
  tau: 0.25,
  lambda: 0.15,
  theta: 0.3,
  scales: 5,
  warps: 5,
  epsilon: 0.01,
  innerIterations: 30,
  outerIterations: 10,
  scaleStep: 0.8,
  gamma: 0,
  medianFiltering: 5,
});

/** The order native/flow.cc reads the parameters in. */
const NATIVE_ORDER: readonly (keyof Tvl1Params)[] = [
  'tau',
  'lambda',
  'theta',
  'scales',
  'warps',
  'epsilon',
  'innerIterations',
  'outerIterations',
  'scaleStep',
  'gamma',
  'medianFiltering',
];

/** Which TV-L1: OpenCV's DualTVL1OpticalFlow, or ours (native/tvl1.cc: the same algorithm and parameters, vectorised). */
export type FlowImpl = 'opencv' | 'ours';
export const FLOW_IMPLS: readonly FlowImpl[] = ['opencv', 'ours'];
/**
 * The implementation used when neither an option nor $I3D_FLOW_IMPL names one: ours, since it met both bounds of
 * issue 16 (mean endpoint error to OpenCV <= 0.05 px on the test videos, CPU time <= 0.33x OpenCV's under AVX-512
 * and AVX2; docs/benchmarks.md).
 */
export const DEFAULT_FLOW_IMPL: FlowImpl = 'ours';

/** The vector instructions our TV-L1 may use: 'auto' is $I3D_FLOW_ISA if set, else the best the CPU has. */
export type FlowIsa = 'auto' | 'avx512' | 'avx2' | 'scalar';
export const FLOW_ISAS: readonly FlowIsa[] = ['auto', 'avx512', 'avx2', 'scalar'];

/** How a flow field is computed (not the TV-L1 parameters). */
export interface FlowImplOptions {
  /** Default: $I3D_FLOW_IMPL, else DEFAULT_FLOW_IMPL. */
  impl?: FlowImpl;
  /** For impl 'ours': cap the vector ISA (default 'auto': $I3D_FLOW_ISA, else the CPU's best). */
  isa?: FlowIsa;
}

/** The implementation an option or $I3D_FLOW_IMPL names, else the default; the error names the bad value. */
export function resolveFlowImpl(impl?: FlowImpl, where = 'flow', env: NodeJS.ProcessEnv = process.env): FlowImpl {
  if (impl !== undefined) {
    if (!FLOW_IMPLS.includes(impl)) fail(where, 'impl', `one of ${FLOW_IMPLS.join(', ')}`, impl);
    return impl;
  }
  const e = env.I3D_FLOW_IMPL;
  if (e === undefined || e === '') return DEFAULT_FLOW_IMPL;
  if (!(FLOW_IMPLS as readonly string[]).includes(e))
    throw new ArgumentError(`${where}: $I3D_FLOW_IMPL must be one of ${FLOW_IMPLS.join(', ')}, got '${e}'`);
  return e as FlowImpl;
}

/** The ISA request, checked: an option, else $I3D_FLOW_ISA, else 'auto'. */
export function resolveFlowIsa(isa?: FlowIsa, where = 'flow', env: NodeJS.ProcessEnv = process.env): FlowIsa {
  if (isa !== undefined) {
    if (!FLOW_ISAS.includes(isa)) fail(where, 'isa', `one of ${FLOW_ISAS.join(', ')}`, isa);
    return isa;
  }
  const e = env.I3D_FLOW_ISA;
  if (e === undefined || e === '') return 'auto';
  if (!(FLOW_ISAS as readonly string[]).includes(e))
    throw new ArgumentError(`${where}: $I3D_FLOW_ISA must be one of ${FLOW_ISAS.join(', ')}, got '${e}'`);
  return e as FlowIsa;
}

/** The ISA our TV-L1 runs with for this request on this CPU (the request capped by what the CPU supports). */
export function flowIsa(isa?: FlowIsa): Exclude<FlowIsa, 'auto'> {
  return native.flowIsa(resolveFlowIsa(isa, 'flowIsa')) as Exclude<FlowIsa, 'auto'>;
}

/** The native arguments after the parameters: impl and ISA, checked. */
function implArgs(where: string, p: Tvl1Params, o: FlowImplOptions): [FlowImpl, FlowIsa] {
  if (o === null || typeof o !== 'object') fail(where, 'options', 'an object { impl?, isa? }', o);
  const impl = resolveFlowImpl(o.impl, where);
  const isa = resolveFlowIsa(o.isa, where);
  if (impl === 'ours' && p.gamma !== 0) fail(where, 'params.gamma', "0 with impl 'ours' (no illumination term)", p.gamma);
  return [impl, isa];
}

/** The flow clip of the official models: values clipped to [-20, 20], then divided by 20. */
export const FLOW_BOUND = 20;

/** Defaults filled in and every value checked; the message names the parameter. */
export function tvl1Params(p: Partial<Tvl1Params> = {}, where = 'tvl1Flow'): Tvl1Params {
  if (p === null || typeof p !== 'object') fail(where, 'params', 'an object of TV-L1 parameters', p);
  for (const k of Object.keys(p)) {
    if (!(NATIVE_ORDER as readonly string[]).includes(k)) fail(where, 'params', `made of ${NATIVE_ORDER.join(', ')}`, k);
  }
  const r: Tvl1Params = { ...TVL1_DEFAULTS, ...p };
  for (const k of ['tau', 'lambda', 'theta', 'epsilon'] as const) {
    if (finite(where, `params.${k}`, r[k]) <= 0) fail(where, `params.${k}`, 'a number > 0', r[k]);
  }
  if (finite(where, 'params.gamma', r.gamma) < 0) fail(where, 'params.gamma', 'a number >= 0', r.gamma);
  if (!(finite(where, 'params.scaleStep', r.scaleStep) > 0 && r.scaleStep < 1))
    fail(where, 'params.scaleStep', 'a number in (0, 1)', r.scaleStep);
  for (const k of ['scales', 'warps', 'innerIterations', 'outerIterations'] as const) int(where, `params.${k}`, r[k], 1);
  if (![1, 3, 5].includes(r.medianFiltering)) fail(where, 'params.medianFiltering', '1, 3 or 5', r.medianFiltering);
  return r;
}

function badValue(where: string, param: string, expected: string, got: string): never {
  throw new ArgumentError(`${where}: '${param}' must be ${expected}, got ${got}`);
}

function checkFrames(where: string, prev: unknown, next: unknown, width: unknown, height: unknown): void {
  int(where, 'width', width, 2);
  int(where, 'height', height, 2);
  const n = (width as number) * (height as number);
  for (const [name, f] of [
    ['prev', prev],
    ['next', next],
  ] as const) {
    if (!(f instanceof Uint8Array || f instanceof Float32Array)) fail(where, name, 'a Uint8Array or Float32Array of gray pixels', f);
    if (f.length !== n) badValue(where, name, `width * height = ${width} * ${height} = ${n} gray pixels long`, `${f.length} pixels`);
  }
  if ((prev as GrayFrame).constructor !== (next as GrayFrame).constructor)
    fail(where, 'next', `the same type as 'prev' (${(prev as GrayFrame).constructor.name})`, next);
  if (prev instanceof Float32Array) {
    for (const [name, f] of [
      ['prev', prev],
      ['next', next as Float32Array],
    ] as const) {
      for (let i = 0; i < f.length; i++) {
        if (!Number.isFinite(f[i])) badValue(where, name, 'finite gray values', `${f[i]} at pixel ${i}`);
      }
    }
  }
}

function nativeParams(p: Tvl1Params): number[] {
  return NATIVE_ORDER.map((k) => p[k]);
}

/** The native call's arguments for one pair, checked (`where` names the call in errors). */
function tvl1Args(
  where: string,
  prev: GrayFrame,
  next: GrayFrame,
  width: number,
  height: number,
  params: Partial<Tvl1Params>,
  opts: FlowImplOptions,
): Tvl1NativeArgs {
  checkFrames(where, prev, next, width, height);
  const p = tvl1Params(params, where);
  return [prev, next, width, height, nativeParams(p), ...implArgs(where, p, opts)];
}

/**
 * TV-L1 optical flow from `prev` to `next` (gray, width x height, row-major), on this thread.
 * Returns height * width * 2 floats: per pixel (x, y) in pixels, such that next(p + flow(p)) ≈ prev(p).
 */
export function tvl1Flow(
  prev: GrayFrame,
  next: GrayFrame,
  width: number,
  height: number,
  params: Partial<Tvl1Params> = {},
  opts: FlowImplOptions = {},
): Float32Array {
  return native.tvl1Flow(...tvl1Args('tvl1Flow', prev, next, width, height, params, opts));
}

/**
 * tvl1Flow in libuv's thread pool: several pairs run at the same time (up to UV_THREADPOOL_SIZE, 4 by default). Ours
 * uses one thread per pair; OpenCV's may use its own pool besides (setFlowThreads).
 */
export function tvl1FlowAsync(
  prev: GrayFrame,
  next: GrayFrame,
  width: number,
  height: number,
  params: Partial<Tvl1Params> = {},
  opts: FlowImplOptions = {},
): Promise<Float32Array> {
  try {
    return native.tvl1FlowAsync(...tvl1Args('tvl1FlowAsync', prev, next, width, height, params, opts));
  } catch (e) {
    return Promise.reject(e as Error);
  }
}

/** Threads OpenCV may use inside one flow computation (process-wide; 1: none besides the caller's). */
export function setFlowThreads(n: number): void {
  native.setFlowThreads(int('setFlowThreads', 'n', n, 1));
}

export interface FlowFacts {
  opencvVersion: string;
  threads: number;
  parallelFramework: string;
  /** The widest ISA our TV-L1 can use on this CPU. */
  oursBestIsa: string;
}

export function flowFacts(): FlowFacts {
  return native.flowFacts();
}

export interface FlowSequenceOptions extends FlowImplOptions {
  params?: Partial<Tvl1Params>;
  /** Frame pairs computed at the same time in libuv's pool; default: the number of cores. */
  concurrency?: number;
}

/**
 * The flow between each frame and the next (N frames give N - 1 fields), in order, with up to `concurrency` pairs
 * computed in parallel. Frames may come from an async source (a decoder); each is held only until its pairs are queued.
 */
export async function* flowSequence(
  frames: Iterable<GrayFrame> | AsyncIterable<GrayFrame>,
  width: number,
  height: number,
  opts: FlowSequenceOptions = {},
): AsyncGenerator<Float32Array> {
  const params = tvl1Params(opts.params ?? {}, 'flowSequence');
  const [impl, isa] = implArgs('flowSequence', params, opts);
  const concurrency = int('flowSequence', 'concurrency', opts.concurrency ?? availableParallelism(), 1);
  int('flowSequence', 'width', width, 2);
  int('flowSequence', 'height', height, 2);
  const pending: Promise<Float32Array>[] = [];
  let prev: GrayFrame | null = null;
  let index = 0;
  try {
    for await (const frame of frames) {
      if (prev) {
        checkFrames(`flowSequence (frames ${index - 1} and ${index})`, prev, frame, width, height);
        const p = native.tvl1FlowAsync(prev, frame, width, height, nativeParams(params), impl, isa);
        p.catch(() => undefined); // rejections are rethrown where the result is awaited, in order
        pending.push(p);
        if (pending.length >= concurrency) yield await pending.shift()!;
      }
      prev = frame;
      index++;
    }
    while (pending.length > 0) yield await pending.shift()!;
  } finally {
    pending.length = 0;
  }
}

/** ITU-R BT.601 luma of packed RGB24, rounded exactly as OpenCV's cvtColor(RGB2GRAY) does for 8-bit images. */
export function rgbToGray(rgb: Uint8Array, width: number, height: number): Uint8Array {
  int('rgbToGray', 'width', width, 1);
  int('rgbToGray', 'height', height, 1);
  if (!(rgb instanceof Uint8Array)) fail('rgbToGray', 'rgb', 'a Uint8Array of RGB24 pixels', rgb);
  const n = width * height;
  if (rgb.length !== n * 3) badValue('rgbToGray', 'rgb', `width * height * 3 = ${n * 3} bytes long`, `${rgb.length} bytes`);
  const out = new Uint8Array(n);
  // OpenCV 4 (color_rgb.simd.hpp): fixed point with 15 fractional bits, R 0.299 -> 9798, G 0.587 -> 19235,
  // B 0.114 -> 3735 (summing to 32768), rounded to nearest.
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (rgb[j]! * 9798 + rgb[j + 1]! * 19235 + rgb[j + 2]! * 3735 + 16384) >> 15;
  return out;
}

function checkField(where: string, flow: unknown, width: number, height: number, param = 'flow'): Float32Array {
  int(where, 'width', width, 1);
  int(where, 'height', height, 1);
  if (!(flow instanceof Float32Array)) fail(where, param, 'a Float32Array of (x, y) flow vectors', flow);
  if (flow.length !== width * height * 2)
    badValue(where, param, `width * height * 2 = ${width * height * 2} floats long`, `${flow.length} floats`);
  return flow;
}

/** A width x height window at (left, top) of an interleaved (x, y) flow field. */
export function cropFlow(flow: Float32Array, width: number, height: number, left: number, top: number, w: number, h: number): Float32Array {
  checkField('cropFlow', flow, width, height);
  int('cropFlow', 'left', left, 0);
  int('cropFlow', 'top', top, 0);
  int('cropFlow', 'w', w, 1);
  int('cropFlow', 'h', h, 1);
  if (left + w > width || top + h > height)
    fail('cropFlow', 'window', `inside the ${width}x${height} field`, `${w}x${h} at (${left}, ${top})`);
  const out = new Float32Array(w * h * 2);
  for (let y = 0; y < h; y++) out.set(flow.subarray(((top + y) * width + left) * 2, ((top + y) * width + left + w) * 2), y * w * 2);
  return out;
}

/** The centre size x size window of a flow field (the test-time crop of I3D). */
export function centerCropFlow(flow: Float32Array, width: number, height: number, size: number): Float32Array {
  int('centerCropFlow', 'size', size, 1);
  if (size > width || size > height) fail('centerCropFlow', 'size', `at most the field's shorter side (${Math.min(width, height)})`, size);
  return cropFlow(flow, width, height, Math.floor((width - size) / 2), Math.floor((height - size) / 2), size, size);
}

/** Clips every component to [-bound, bound] and divides by bound: the flow stream's input range [-1, 1]. */
export function scaleFlow(flow: Float32Array, bound = FLOW_BOUND): Float32Array {
  if (!(flow instanceof Float32Array)) fail('scaleFlow', 'flow', 'a Float32Array of (x, y) flow vectors', flow);
  if (finite('scaleFlow', 'bound', bound) <= 0) fail('scaleFlow', 'bound', 'a number > 0', bound);
  const out = new Float32Array(flow.length);
  for (let i = 0; i < flow.length; i++) out[i] = Math.min(bound, Math.max(-bound, flow[i]!)) / bound;
  return out;
}

export interface FlowClip {
  /** [1, N, height, width, 2], channels (x, y), values in [-1, 1]. */
  data: Float32Array;
  shape: [1, number, number, number, 2];
}

/** N flow fields (each height * width * (x, y)) as the flow stream's input clip [1, N, H, W, 2] in [-1, 1]. */
export function flowToClip(fields: readonly Float32Array[], width: number, height: number, bound = FLOW_BOUND): FlowClip {
  if (!Array.isArray(fields) || fields.length === 0) fail('flowToClip', 'fields', 'a non-empty array of flow fields', fields);
  const size = width * height * 2;
  fields.forEach((f, i) => checkField('flowToClip', f, width, height, `fields[${i}]`));
  const data = new Float32Array(size * fields.length);
  fields.forEach((f, i) => data.set(scaleFlow(f, bound), i * size));
  return { data, shape: [1, fields.length, height, width, 2] };
}

// The Middlebury colour wheel (Baker et al., "A Database and Evaluation Methodology for Optical Flow", 2011).
const WHEEL: [number, number, number][] = (() => {
  const w: [number, number, number][] = [];
  const seg = (n: number, f: (t: number) => [number, number, number]) => {
    for (let i = 0; i < n; i++) w.push(f(Math.floor((255 * i) / n)));
  };
  seg(15, (t) => [255, t, 0]); // red -> yellow
  seg(6, (t) => [255 - t, 255, 0]); // yellow -> green
  seg(4, (t) => [0, 255, t]); // green -> cyan
  seg(11, (t) => [0, 255 - t, 255]); // cyan -> blue
  seg(13, (t) => [t, 0, 255]); // blue -> magenta
  seg(6, (t) => [255, 0, 255 - t]); // magenta -> red
  return w;
})();

/** The largest flow vector length in a field (for a shared colour scale across frames). */
export function maxFlowMagnitude(flow: Float32Array): number {
  let m = 0;
  for (let i = 0; i < flow.length; i += 2) m = Math.max(m, Math.hypot(flow[i]!, flow[i + 1]!));
  return m;
}

/**
 * Middlebury colour coding of a flow field as RGB24: hue is the direction, saturation the length relative to
 * `maxMagnitude` (default: the field's longest vector); white is no motion.
 */
export function flowToColor(flow: Float32Array, width: number, height: number, maxMagnitude?: number): Uint8Array {
  checkField('flowToColor', flow, width, height);
  const scale = maxMagnitude ?? maxFlowMagnitude(flow);
  if (finite('flowToColor', 'maxMagnitude', scale) < 0) fail('flowToColor', 'maxMagnitude', 'a number >= 0', scale);
  const inv = 1 / Math.max(scale, 1e-9);
  const n = WHEEL.length;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const u = flow[2 * i]! * inv;
    const v = flow[2 * i + 1]! * inv;
    const rad = Math.hypot(u, v);
    const fk = ((Math.atan2(-v, -u) / Math.PI + 1) / 2) * (n - 1);
    const k0 = Math.floor(fk);
    const k1 = (k0 + 1) % n;
    const f = fk - k0;
    for (let c = 0; c < 3; c++) {
      let col = ((1 - f) * WHEEL[k0]![c]! + f * WHEEL[k1]![c]!) / 255;
      col = rad <= 1 ? 1 - rad * (1 - col) : col * 0.75;
      out[3 * i + c] = Math.floor(255 * col);
    }
  }
  return out;
}

/** Writes the Middlebury colour coding of a flow field as an RGB PNG. */
export async function writeFlowPng(path: string, flow: Float32Array, width: number, height: number, maxMagnitude?: number): Promise<void> {
  const rgb = flowToColor(flow, width, height, maxMagnitude);
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  await writeFile(path, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}
