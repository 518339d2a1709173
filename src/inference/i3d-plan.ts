// The fast inference path of I3D on the CPU: batch norm folded into the convolutions' weights and bias once, ReLU
// fused into them, one blocked channel layout from the first layer to Mixed_5c (16 channels a block on AVX-512, 8 on
// AVX2: what oneDNN has fast kernels for on this CPU, src/inference/cpu-support.ts), Inception branches writing straight
// into their part of the block's output (no concatenation copy), padding done by the convolutions and pools
// themselves, buffers allocated once per clip shape and reused, and optionally bfloat16 (--precision bf16).
// The steps run in oneDNN (native/plan.cc); the head (average pool, logits) stays on the eager ops. A plan in which
// oneDNN would run any step on its reference (slow) kernels is never run: the other layout is tried, then the eager
// ops, with one warning.
import { type I3D, type I3DOutput, type Unit3d } from '../models/i3d.js';
import { resolvePadding } from '../nn/functional.js';
import { noGrad, scope } from '../tensor/context.js';
import {
  type Block,
  createPlan,
  freePlan,
  planInfo,
  runPlan,
  type PlanHandle,
  type PlanStep,
  type Precision,
  type Triple,
} from '../tensor/plan.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';
import { bf16Unsupported, type CpuSupport, cpuSupport, warnOnce } from './cpu-support.js';
import { I3DError } from '../core/errors.js';
import { eagerFeatureMapAsync } from './eager.js';

const BN_EPS = 1e-3;

/** Why this model's Inception branches cannot share a buffer in `block`-channel blocks (each must start on one), or null. */
function branchesUnaligned(model: I3D, block: Block): string | null {
  for (const l of model.layers) {
    if (l.kind !== 'mixed') continue;
    const [b0, b1, b2] = l.block.units.map((u) => u[u.length - 1]!.weight.shape[0]!);
    if (b0! % block !== 0 || (b0! + b1!) % block !== 0 || (b0! + b1! + b2!) % block !== 0)
      return `its Inception branches (width ${model.width}) do not start on multiples of ${block} channels`;
  }
  return null;
}

/** Why the fused path cannot run: 'cpu' when this CPU (or the ISA cap) lacks the kernels, 'model' when the model does not fit. */
export interface FusedRefusal {
  kind: 'cpu' | 'model';
  reason: string;
}

/**
 * The layout the fused path takes first for this model on this CPU (the ISA's block, or 8 channels on AVX-512 when
 * the model's branches only align on 8: AVX-512 machines run AVX2's kernels too; bf16 only in 16), or why it cannot
 * run. `block` forces a layout.
 */
export function fusedLayout(
  model: I3D,
  precision: Precision = 'fp32',
  support: CpuSupport = cpuSupport(),
  block?: Block,
): { block: Block } | FusedRefusal {
  if (!model.parameters().every((p) => p.device === 'cpu'))
    return { kind: 'model', reason: 'the fused path runs on the CPU; this model is on another device' };
  if (support.block === null)
    return { kind: 'cpu', reason: `oneDNN has no fast blocked kernels for ISA ${support.isa} (it needs AVX2 or AVX-512)` };
  if (precision === 'bf16') {
    const why = bf16Unsupported(support);
    if (why) return { kind: 'cpu', reason: why };
  }
  const candidates: Block[] = block ? [block] : support.block === 16 && precision === 'fp32' ? [16, 8] : [support.block];
  const fits = candidates.find((b) => !branchesUnaligned(model, b));
  if (fits) return { block: fits };
  return { kind: 'model', reason: branchesUnaligned(model, candidates[candidates.length - 1]!)! };
}

/** Why this model cannot take the fused path on this CPU, or null when it can. */
export function fusedRefusal(model: I3D, precision: Precision = 'fp32', support: CpuSupport = cpuSupport()): FusedRefusal | null {
  const r = fusedLayout(model, precision, support);
  return 'reason' in r ? r : null;
}

/** Why this model cannot take the fused path on this CPU, or null when it can. */
export function fusedUnsupported(model: I3D, precision: Precision = 'fp32'): string | null {
  return fusedRefusal(model, precision)?.reason ?? null;
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
  constructor(readonly block: Block) {}
  readonly dims: Dims[] = [];
  readonly storage: number[] = [];
  readonly #size: number[] = [];
  readonly #free: number[] = [];

  take(d: Dims): number {
    const elements = Math.ceil(d[0] / this.block) * this.block * d[1] * d[2] * d[3];
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
  block: Block,
): { buffers: Buffers; steps: PlanStep[]; output: number } {
  const buffers = new Buffers(block);
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
  /** 'fp32' (default) or 'bf16' (CPUs with AVX512-BF16 or AMX; an error elsewhere). */
  precision?: Precision;
  /** Plans kept for reuse, one per clip shape, least recently used dropped first (default 2: each holds buffers). */
  maxPlans?: number;
  /** Channels per block of the layout (default: what oneDNN runs fast on this CPU, 16 on AVX-512, 8 on AVX2). */
  block?: Block;
}

/** A shape's plan, or null when no layout has fast kernels for it (the eager ops run it instead). */
type ShapePlan = { handle: PlanHandle; block: Block } | null;

/**
 * An I3D's inference path on oneDNN. It snapshots the model's weights when made (train the model, then make this);
 * plans are built on first use for each clip shape and kept. Results match the eager model to ~1e-6 relative in fp32.
 * A plan with any step on oneDNN's reference kernels is never run: the other layout is tried, then the eager ops
 * (fp32 only; bf16 then fails with the reason), with one warning.
 */
export class FusedI3D {
  readonly precision: Precision;
  readonly maxPlans: number;
  /** The layout tried first for every shape. */
  readonly block: Block;
  readonly #weights = new Map<Unit3d, { weight: Tensor; bias: Tensor }>();
  readonly #plans = new Map<string, ShapePlan>();
  /** Why the eager ops run a clip shape, by shape. */
  readonly #fallbacks = new Map<string, string>();

  constructor(
    readonly model: I3D,
    o: FusedI3DOptions = {},
  ) {
    this.precision = v.oneOf('FusedI3D', 'precision', o.precision ?? 'fp32', ['fp32', 'bf16'] as const);
    this.maxPlans = v.int('FusedI3D', 'maxPlans', o.maxPlans ?? 2, 1);
    if (o.block !== undefined && o.block !== 8 && o.block !== 16) v.fail('FusedI3D', 'block', '8 or 16', o.block);
    const layout = fusedLayout(model, this.precision, cpuSupport(), o.block);
    if ('reason' in layout) throw new I3DError('I3D_UNSUPPORTED', `FusedI3D: ${layout.reason}`);
    this.block = layout.block;
    for (const l of model.layers) {
      const units = l.kind === 'unit' ? [l.unit] : l.kind === 'mixed' ? l.block.units.flat() : [];
      for (const u of units) this.#weights.set(u, fold(u));
    }
  }

  #build(frames: number, height: number, width: number): ShapePlan {
    const other: Block = this.block === 16 ? 8 : 16;
    const blocks = branchesUnaligned(this.model, other) ? [this.block] : [this.block, other];
    const slow: { block: Block; steps: number }[] = []; // layouts tried, with their steps on reference kernels
    const isa = cpuSupport().isa;
    for (const block of blocks) {
      const { buffers, steps, output } = planSteps(this.model, this.#weights, frames, height, width, block);
      const handle = createPlan({
        precision: this.precision,
        block,
        input: [this.model.inChannels, frames, height, width],
        buffers: buffers.dims.map((d, i) => ({ dims: d, storage: buffers.storage[i]! })),
        steps,
        output,
      });
      const ref = planInfo(handle).filter((s) => s.startsWith('ref')).length;
      if (ref === 0) {
        for (const s of slow)
          warnOnce(
            `I3D fused path: oneDNN (${isa}) has only reference kernels for ${s.steps} steps in ${s.block}-channel blocks; ` +
              `using ${block}-channel blocks instead`,
          );
        return { handle, block };
      }
      freePlan(handle);
      slow.push({ block, steps: ref });
    }
    const why =
      `no fast oneDNN kernels for ${frames}x${height}x${width} clips on this CPU (it needs AVX2 or AVX-512; oneDNN runs ${isa} ` +
      `here: ${slow.map((s) => `${s.steps} steps in ${s.block}-channel blocks`).join(', ')} on reference kernels)`;
    if (this.precision !== 'fp32') throw new I3DError('I3D_UNSUPPORTED', `FusedI3D: ${why}; ${this.precision} has no other path`);
    warnOnce(`I3D fused path: ${why}; running the eager ops instead (slower)`);
    this.#fallbacks.set(`${frames}x${height}x${width}`, why);
    return null;
  }

  #plan(frames: number, height: number, width: number): ShapePlan {
    const key = `${frames}x${height}x${width}`;
    let p = this.#plans.get(key);
    if (p !== undefined)
      this.#plans.delete(key); // re-inserted below: the Map's order is the recency order
    else {
      if (this.#plans.size >= this.maxPlans) {
        const [oldest, old] = this.#plans.entries().next().value!;
        this.#plans.delete(oldest);
        if (old) freePlan(old.handle);
      }
      p = this.#build(frames, height, width);
    }
    this.#plans.set(key, p);
    return p;
  }

  /** The plan for clips [B, frames, height, width, C] (built and kept on first use); null when the eager ops run them. */
  plan(frames: number, height: number, width: number): PlanHandle | null {
    return this.#plan(frames, height, width)?.handle ?? null;
  }

  /** The layout of the plan for this clip shape (16 or 8 channels a block), or null when the eager ops run it. */
  layout(frames: number, height: number, width: number): Block | null {
    return this.#plan(frames, height, width)?.block ?? null;
  }

  /** Why the eager ops run clips of this shape (the plan is built if need be), or null when a plan runs them. */
  fallbackReason(frames: number, height: number, width: number): string | null {
    return this.#plan(frames, height, width) ? null : (this.#fallbacks.get(`${frames}x${height}x${width}`) ?? null);
  }

  /** oneDNN's implementation of each step of the plan for this clip shape (empty when the eager ops run it). */
  implementations(frames: number, height: number, width: number): string[] {
    const p = this.plan(frames, height, width);
    return p ? planInfo(p) : [];
  }

  #prepare(clips: Tensor): [PlanHandle | null, Tensor] {
    const s = clips.shape;
    this.model.inputView(clips).dispose(); // checks the shape, with the model's message
    const x = clips.dtype === 'float32' && clips.isContiguous() ? clips : clips.to('float32').contiguous();
    return [this.plan(s[1]!, s[2]!, s[3]!), x];
  }

  #eager(clips: Tensor): Tensor {
    return this.model.evaluating(() => this.model.forwardFeatures(clips).contiguous());
  }

  /** Mixed_5c's map [B, C, T/8, H/32, W/32] (contiguous float32) for clips [B, T, H, W, C]. */
  featureMap(clips: Tensor): Tensor {
    const [p, x] = this.#prepare(clips);
    return p ? runPlan(p, x) : this.#eager(x);
  }

  /** The same off the JavaScript thread (the eager ops' async twins where no plan runs this shape). */
  featureMapAsync(clips: Tensor): Promise<Tensor> {
    try {
      const [p, x] = this.#prepare(clips);
      return p ? runPlan.async(p, x) : eagerFeatureMapAsync(this.model, x);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Frees the plans (and their buffers) kept so far; the next clip builds its plan again. */
  releasePlans(): void {
    for (const p of this.#plans.values()) if (p) freePlan(p.handle);
    this.#plans.clear();
  }

  /** Frees the folded weights and the plans' buffers now. Unusable afterwards. */
  dispose(): void {
    for (const w of this.#weights.values()) {
      w.weight.dispose();
      w.bias.dispose();
    }
    this.#weights.clear();
    for (const p of this.#plans.values()) if (p) freePlan(p.handle);
    this.#plans.clear();
  }

  /** What the model's forward gives, in eval mode. */
  forward(clips: Tensor): I3DOutput {
    return this.outputs(this.featureMap(clips));
  }

  /** The features and logits of a feature map from featureMap(). */
  outputs(featureMap: Tensor): I3DOutput {
    const m = this.model;
    return m.evaluating(() => ({
      featureMap,
      features: featureMap.mean([2, 3, 4]),
      logits: m.includeTop ? m.forwardHead(featureMap) : null,
    }));
  }
}
