// Model-only inference speed of I3D (what `i3d bench` prints): milliseconds per clip after warm-up, the median of
// several runs, and the GFLOP/s that makes (2 x the multiply-accumulates of every convolution at that clip shape).
import { I3D, type Stream } from '../models/i3d.js';
import { resolvePadding } from '../nn/functional.js';
import { getNumThreads } from '../tensor/runtime.js';
import { noGrad, scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import type { Precision } from '../tensor/plan.js';
import { cpuSupport } from './cpu-support.js';
import { createEngine, type InferenceEngine } from './engine.js';

/** Multiply-accumulates of one clip of frames x height x width through the model (convolutions and logits). */
export function i3dMacs(model: I3D, frames: number, height: number, width: number): number {
  let dims = [frames, height, width];
  let channels = model.inChannels;
  const outDims = (d: number[], k: readonly number[], s: readonly number[]) => {
    resolvePadding('i3dMacs', 'same', d, k, s); // checks the arguments
    return d.map((n, i) => Math.ceil(n / s[i]!));
  };
  const conv = (cin: number, cout: number, k: readonly number[], d: number[]) =>
    d.reduce((a, b) => a * b, 1) * cin * cout * k[0]! * k[1]! * k[2]!;
  let macs = 0;
  for (const l of model.layers) {
    if (l.kind === 'unit') {
      dims = outDims(dims, l.unit.kernel, l.unit.stride);
      const cout = l.unit.weight.shape[0]!;
      macs += conv(channels, cout, l.unit.kernel, dims);
      channels = cout;
    } else if (l.kind === 'pool') {
      dims = outDims(dims, l.kernel, l.stride);
    } else {
      for (const branch of l.block.units) {
        let cin = channels;
        for (const u of branch) {
          const cout = u.weight.shape[0]!;
          macs += conv(cin, cout, u.kernel, dims);
          cin = cout;
        }
      }
      channels = l.block.outChannels;
    }
  }
  if (model.includeTop) {
    const pooled = [dims[0]! - Math.min(2, dims[0]!) + 1, dims[1]! - Math.min(7, dims[1]!) + 1, dims[2]! - Math.min(7, dims[2]!) + 1];
    macs += conv(channels, model.classes, [1, 1, 1], pooled);
  }
  return macs;
}

export interface BenchOptions {
  frames?: number;
  size?: number;
  precision?: Precision;
  batch?: number;
  stream?: Stream;
  /** Timed runs (default 5); the median is reported. */
  runs?: number;
  /** Untimed runs first (default 2: the first builds the plan). */
  warmup?: number;
  /** 'fused' (default where the model allows it) or 'eager' (the training path's ops). */
  engine?: 'fused' | 'eager';
  /** Called after each run with its milliseconds. */
  onRun?: (ms: number, timed: boolean) => void;
}

export interface BenchResult {
  /** The engine that ran: 'fused' unless the eager engine was asked for or the fused path fell back (with a warning). */
  engine: 'fused' | 'eager';
  /** Why the eager engine ran (null when the fused one did). */
  reason: string | null;
  /** Channels per block of the fused plan's layout (null for the eager ops). */
  layout: 8 | 16 | null;
  /** oneDNN's instruction set in this process. */
  isa: string;
  precision: Precision;
  stream: Stream;
  frames: number;
  size: number;
  batch: number;
  threads: number;
  /** Median over the timed runs, per clip. */
  msPerClip: number;
  gflops: number;
  /** Multiply-accumulates of one clip, in billions. */
  gmacs: number;
  /** Every timed run, ms per batch. */
  runsMs: number[];
  /** Peak resident memory of this process so far, MiB. */
  peakRssMiB: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Times a random-weight I3D (the speed does not depend on the weights) on a random clip, on the engine inference uses. */
export async function benchI3D(o: BenchOptions = {}): Promise<BenchResult> {
  const frames = o.frames ?? 64;
  const size = o.size ?? 224;
  const batch = o.batch ?? 1;
  const precision = o.precision ?? 'fp32';
  const stream = o.stream ?? 'rgb';
  const model = new I3D({ stream }).eval();
  let engine: InferenceEngine;
  try {
    engine = createEngine(model, { ...(o.engine ? { engine: o.engine } : {}), precision });
  } catch (e) {
    model.dispose();
    throw e;
  }
  try {
    return await scope(async () => {
      const clip = noGrad(() => ops.rand([batch, frames, size, size, model.inChannels]).mul(2).sub(1));
      const runsMs: number[] = [];
      for (let i = 0; i < (o.warmup ?? 2) + (o.runs ?? 5); i++) {
        const t0 = performance.now();
        await scope(async () => (await engine.outputs(clip)).logits!.toArray());
        const ms = performance.now() - t0;
        const timed = i >= (o.warmup ?? 2);
        if (timed) runsMs.push(ms);
        o.onRun?.(ms, timed);
      }
      const msPerClip = median(runsMs) / batch;
      const macs = i3dMacs(model, frames, size, size);
      const layout = engine.layout(frames, size, size);
      return {
        engine: layout !== null ? ('fused' as const) : ('eager' as const),
        reason: layout !== null ? null : (engine.reason ?? 'no oneDNN layout has fast kernels for this clip shape on this CPU'),
        layout,
        isa: cpuSupport().isa,
        precision,
        stream,
        frames,
        size,
        batch,
        threads: getNumThreads(),
        msPerClip,
        gflops: (2 * macs) / (msPerClip * 1e6),
        gmacs: macs / 1e9,
        runsMs,
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
      };
    });
  } finally {
    engine.dispose();
    model.dispose();
  }
}
