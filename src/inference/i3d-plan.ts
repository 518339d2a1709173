// The fast inference path of I3D on the CPU: batch norm folded into the convolutions' weights and bias once, ReLU
// fused into them, one blocked channel layout from the first layer to Mixed_5c, Inception branches writing straight
// into their part of the block's output (no concatenation copy), padding done by the convolutions and pools
// themselves, buffers allocated once per clip shape and reused, and optionally bfloat16 (--precision bf16).
// The steps run in oneDNN (native/plan.cc); the head (average pool, logits) stays on the eager ops.
import { type I3D, type I3DOutput, MIN_FRAMES, MIN_SIZE, type Unit3d } from '../models/i3d.js';
import type { I3DLSTM } from '../models/i3d-lstm.js';
import { resolvePadding } from '../nn/functional.js';
import { hasBf16 } from '../system/cpu.js';
import { noGrad, scope } from '../tensor/context.js';
import { createPlan, freePlan, planInfo, runPlan, type PlanHandle, type PlanStep, type Precision, type Triple } from '../tensor/plan.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';

const BN_EPS = 1e-3;
const BLOCK = 16; // channels per block of the layout: an Inception branch must start on one

/** Why this model cannot take the fused path, or null when it can. */
export function fusedUnsupported(model: I3D, precision: Precision = 'fp32'): string | null {
  if (!model.parameters().every((p) => p.device === 'cpu')) return 'the fused path runs on the CPU; this model is on another device';
  for (const l of model.layers) {
    if (l.kind !== 'mixed') continue;
    const [b0, b1, b2] = l.block.units.map((u) => u[u.length - 1]!.weight.shape[0]!);
    if (b0! % BLOCK !== 0 || (b0! + b1!) % BLOCK !== 0 || (b0! + b1! + b2!) % BLOCK !== 0)
      return `its Inception branches (width ${model.width}) do not start on multiples of ${BLOCK} channels`;
  }
  if (precision === 'bf16' && !hasBf16()) return 'bf16 needs a CPU with AVX512-BF16 (this one does not have it)';
  return null;
}

/** Batch norm (no scale, eps 1e-3) folded into the convolution before it: weight * s, beta - mean * s. */
function fold(u: Unit3d): { weight: Tensor; bias: Tensor } {
  return noGrad(() =>
    scope(() => {
      const s = u.runningVar.to('float64').add(BN_EPS).sqrt().pow(-1);
      const weight = u.weight
        .to('float64')
        .mul(s.reshape([-1, 1, 1, 1, 1]))
        .to('float32')
        .contiguous();
      const bias = u.beta.to('float64').sub(u.runningMean.to('float64').mul(s)).to('float32');
      return { weight: weight.keep(), bias: bias.keep() };
    }),
  );
}

type Dims = [number, number, number, number]; // channels, frames, height, width

/** Allocates activation buffers over shared storages: a buffer whose last reader has run gives its storage back. */
class Buffers {
  readonly dims: Dims[] = [];
  readonly storage: number[] = [];
  readonly #size: number[] = [];
  readonly #free: number[] = [];

  take(d: Dims): number {
    const elements = Math.ceil(d[0] / BLOCK) * BLOCK * d[1] * d[2] * d[3];
    // The smallest free storage that fits, else the largest free one (grown), else a new one.
    const fits = this.#free.filter((s) => this.#size[s]! >= elements).sort((a, b) => this.#size[a]! - this.#size[b]!);
    const grow = [...this.#free].sort((a, b) => this.#size[b]! - this.#size[a]!);
    let s = fits[0] ?? grow[0];
    if (s === undefined) {
      s = this.#size.length;
      this.#size.push(0);
    } else this.#free.splice(this.#free.indexOf(s), 1);
    this.#size[s] = Math.max(this.#size[s]!, elements);
    this.dims.push(d);
    this.storage.push(s);
    return this.dims.length - 1;
  }

  release(id: number): void {
    if (id >= 0) this.#free.push(this.storage[id]!);
  }
}

/** The plan's steps for clips of `frames` x `height` x `width`. */
function planSteps(
  model: I3D,
  weights: Map<Unit3d, { weight: Tensor; bias: Tensor }>,
  frames: number,
  height: number,
  width: number,
): { buffers: Buffers; steps: PlanStep[]; output: number } {
  const buffers = new Buffers();
  const steps: PlanStep[] = [];
  const same = (size: readonly number[], kernel: Triple, stride: Triple) => {
    const p = resolvePadding('I3D plan', 'same', size, kernel, stride);
    const out = size.map((n, i) => Math.ceil(n / stride[i]!));
    return { padL: [p[0]!, p[2]!, p[4]!] as Triple, padR: [p[1]!, p[3]!, p[5]!] as Triple, out };
  };
  let x = -1;
  let dims: Dims = [model.inChannels, frames, height, width];
  const conv = (u: Unit3d, src: number, srcDims: Dims, dst: number | null, offset: number): { id: number; dims: Dims } => {
    const w = weights.get(u)!;
    const { padL, padR, out } = same(srcDims.slice(1), u.kernel, u.stride);
    const outDims: Dims = [w.weight.shape[0]!, out[0]!, out[1]!, out[2]!];
    const id = dst ?? buffers.take(outDims);
    steps.push({ op: 'conv', src, dst: id, offset, weight: w.weight, bias: w.bias, stride: u.stride, padL, padR, relu: true });
    return { id, dims: outDims };
  };
  for (const l of model.layers) {
    if (l.kind === 'unit') {
      const r = conv(l.unit, x, dims, null, 0);
      buffers.release(x);
      [x, dims] = [r.id, r.dims];
    } else if (l.kind === 'pool') {
      const { padL, padR, out } = same(dims.slice(1), l.kernel, l.stride);
      const outDims: Dims = [dims[0], out[0]!, out[1]!, out[2]!];
      const id = buffers.take(outDims);
      steps.push({ op: 'maxpool', src: x, dst: id, offset: 0, kernel: l.kernel, stride: l.stride, padL, padR });
      buffers.release(x);
      [x, dims] = [id, outDims];
    } else {
      const [b0, b1, b2, b3] = l.block.units as [Unit3d[], Unit3d[], Unit3d[], Unit3d[]];
      const outDims: Dims = [l.block.outChannels, dims[1], dims[2], dims[3]];
      const out = buffers.take(outDims);
      let offset = 0;
      const into = (u: Unit3d, src: number, srcDims: Dims) => {
        conv(u, src, srcDims, out, offset);
        offset += weights.get(u)!.weight.shape[0]!;
      };
      into(b0[0]!, x, dims);
      for (const [a, b] of [b1, b2] as [Unit3d, Unit3d][]) {
        const mid = conv(a, x, dims, null, 0);
        into(b, mid.id, mid.dims);
        buffers.release(mid.id);
      }
      const pooled = buffers.take(dims);
      const k: Triple = [3, 3, 3];
      const { padL, padR } = same(dims.slice(1), k, [1, 1, 1]);
      steps.push({ op: 'maxpool', src: x, dst: pooled, offset: 0, kernel: k, stride: [1, 1, 1], padL, padR });
      into(b3[0]!, pooled, dims);
      buffers.release(pooled);
      buffers.release(x);
      [x, dims] = [out, outDims];
    }
  }
  return { buffers, steps, output: x };
}

export interface FusedI3DOptions {
  /** 'fp32' (default) or 'bf16' (CPUs with AVX512-BF16: about twice as fast, at an accuracy cost; see docs). */
  precision?: Precision;
  /** Plans kept for reuse, one per clip shape, least recently used dropped first (default 2: each holds buffers). */
  maxPlans?: number;
}

/**
 * An I3D's inference path on oneDNN. It snapshots the model's weights when made (train the model, then make this);
 * plans are built on first use for each clip shape and kept. Results match the eager model to ~1e-6 relative in fp32.
 */
export class FusedI3D {
  readonly precision: Precision;
  readonly maxPlans: number;
  readonly #weights = new Map<Unit3d, { weight: Tensor; bias: Tensor }>();
  readonly #plans = new Map<string, PlanHandle>();

  constructor(
    readonly model: I3D,
    o: FusedI3DOptions = {},
  ) {
    this.precision = v.oneOf('FusedI3D', 'precision', o.precision ?? 'fp32', ['fp32', 'bf16'] as const);
    this.maxPlans = v.int('FusedI3D', 'maxPlans', o.maxPlans ?? 2, 1);
    const why = fusedUnsupported(model, this.precision);
    if (why) throw new Error(`FusedI3D: ${why}`);
    for (const l of model.layers) {
      const units = l.kind === 'unit' ? [l.unit] : l.kind === 'mixed' ? l.block.units.flat() : [];
      for (const u of units) this.#weights.set(u, fold(u));
    }
  }

  /** The plan for clips [B, frames, height, width, C] (built and kept on first use). */
  plan(frames: number, height: number, width: number): PlanHandle {
    const key = `${frames}x${height}x${width}`;
    let p = this.#plans.get(key);
    if (p)
      this.#plans.delete(key); // re-inserted below: the Map's order is the recency order
    else {
      if (this.#plans.size >= this.maxPlans) {
        const [oldest, old] = this.#plans.entries().next().value!;
        this.#plans.delete(oldest);
        freePlan(old);
      }
      const { buffers, steps, output } = planSteps(this.model, this.#weights, frames, height, width);
      p = createPlan({
        precision: this.precision,
        input: [this.model.inChannels, frames, height, width],
        buffers: buffers.dims.map((d, i) => ({ dims: d, storage: buffers.storage[i]! })),
        steps,
        output,
      });
    }
    this.#plans.set(key, p);
    return p;
  }

  /** oneDNN's implementation of each step of the plan for this clip shape (to check that none fell back to a slow one). */
  implementations(frames: number, height: number, width: number): string[] {
    return planInfo(this.plan(frames, height, width));
  }

  #prepare(clips: Tensor): [PlanHandle, Tensor] {
    const s = clips.shape;
    // The eager model checks shapes with its own message.
    const ok = s.length === 5 && s[4] === this.model.inChannels && s[1]! >= MIN_FRAMES && s[2]! >= MIN_SIZE && s[3]! >= MIN_SIZE;
    if (!ok) this.model.forwardFeatures(clips);
    const x = clips.dtype === 'float32' && clips.isContiguous() ? clips : clips.to('float32').contiguous();
    return [this.plan(s[1]!, s[2]!, s[3]!), x];
  }

  /** Mixed_5c's map [B, C, T/8, H/32, W/32] (contiguous float32) for clips [B, T, H, W, C]. */
  featureMap(clips: Tensor): Tensor {
    const [p, x] = this.#prepare(clips);
    return runPlan(p, x);
  }

  /** The same off the JavaScript thread. */
  featureMapAsync(clips: Tensor): Promise<Tensor> {
    try {
      const [p, x] = this.#prepare(clips);
      return runPlan.async(p, x);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Frees the folded weights and the plans' buffers now. Unusable afterwards. */
  dispose(): void {
    for (const w of this.#weights.values()) {
      w.weight.dispose();
      w.bias.dispose();
    }
    this.#weights.clear();
    for (const p of this.#plans.values()) freePlan(p);
    this.#plans.clear();
  }

  /** What the model's forward gives, in eval mode. */
  forward(clips: Tensor): I3DOutput {
    return this.outputs(this.featureMap(clips));
  }

  /** The features and logits of a feature map from featureMap(). */
  outputs(featureMap: Tensor): I3DOutput {
    const m = this.model;
    const wasTraining = m.training;
    m.eval();
    try {
      return noGrad(() => ({
        featureMap,
        features: featureMap.mean([2, 3, 4]),
        logits: m.includeTop ? m.forwardHead(featureMap) : null,
      }));
    } finally {
      if (wasTraining) m.train();
    }
  }
}

/**
 * Lets an I3D-LSTM compute its backbone's features on the fused path in eval mode (evaluation, prediction), where the
 * backbone allows it; returns what undoes it (and frees the fused weights). Train after undoing, not before: the
 * fused path snapshots the backbone's weights.
 */
export function fuseBackbone(model: I3DLSTM): () => void {
  if (fusedUnsupported(model.backbone)) return () => {};
  const fused = new FusedI3D(model.backbone);
  model.inferenceFeatures = (clips) => fused.forward(clips).features;
  return () => {
    model.inferenceFeatures = null;
    fused.dispose();
  };
}
