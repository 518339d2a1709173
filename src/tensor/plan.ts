// Inference plans (native/plan.cc): a fixed list of oneDNN convolutions (bias, optional fused ReLU) and max pools
// over activation buffers in a blocked channel layout (16 or 8 channels a block), built once for one input shape and
// run many times.
// What the steps are is up to the caller (src/inference/i3d-plan.ts builds I3D's).
import { native, type Handle } from '../native/binding.js';
import { op } from './exec.js';
import { handleOf, type Tensor } from './tensor.js';
import * as v from './validate.js';

export type Precision = 'fp32' | 'bf16';
export type Triple = readonly [number, number, number];

/** Where a step reads from: -1 the input clip, else a buffer's index. */
export interface ConvStep {
  op: 'conv';
  src: number;
  dst: number;
  /** First channel of the destination buffer written (a multiple of the block unless it is the whole buffer). */
  offset: number;
  /** [out, in, kt, kh, kw] float32, and [out] float32. */
  weight: Tensor;
  bias: Tensor;
  stride: Triple;
  padL: Triple;
  padR: Triple;
  relu: boolean;
}
export interface MaxPoolStep {
  op: 'maxpool';
  src: number;
  dst: number;
  offset: number;
  kernel: Triple;
  stride: Triple;
  padL: Triple;
  padR: Triple;
}
export type PlanStep = ConvStep | MaxPoolStep;

/** Channels per block of the activations' layout: 16 (nCdhw16c, AVX-512's kernels) or 8 (nCdhw8c, AVX2's). */
export type Block = 8 | 16;

export interface PlanSpec {
  precision: Precision;
  block: Block;
  /** The clip's [channels, frames, height, width]; clips come as [B, T, H, W, C] float32. */
  input: readonly number[];
  /**
   * Each buffer's [channels, frames, height, width] and storage: buffers with the same storage share memory (the
   * caller makes sure their lifetimes do not overlap).
   */
  buffers: readonly { dims: readonly number[]; storage: number }[];
  steps: readonly PlanStep[];
  /** The buffer a run returns, as [B, C, T, H, W] float32. */
  output: number;
}

/** The native plan object (opaque; freed by the garbage collector). */
export type PlanHandle = object & { readonly __brand: 'i3d.Plan' };

interface PlanBinding {
  planCreate(spec: unknown): PlanHandle;
  planInfo(plan: PlanHandle): string[];
  planFree(plan: PlanHandle): void;
  onednnFacts(): Omit<OnednnFacts, 'cap'>;
}

export interface OnednnFacts {
  /** The oneDNN library's version, e.g. '2.6.3'. */
  version: string;
  /**
   * The instruction set its kernels use in this process: the CPU's best (e.g. 'avx512_core_bf16', 'avx2'), or less
   * when capped by ONEDNN_MAX_CPU_ISA.
   */
  isa: string;
  /** ONEDNN_MAX_CPU_ISA (or the older DNNL_MAX_CPU_ISA) as this process was started with it, or null. */
  cap: string | null;
}

/** oneDNN's version, the instruction set its kernels use here, and the cap set on it. */
export function onednnFacts(): OnednnFacts {
  const cap = process.env.ONEDNN_MAX_CPU_ISA || process.env.DNNL_MAX_CPU_ISA || null;
  return { ...binding.onednnFacts(), cap };
}
const binding = native as unknown as PlanBinding;

function weight(t: Tensor): Handle {
  if (t.dtype !== 'float32' || !t.isContiguous()) v.fail('createPlan', 'weight', 'a contiguous float32 tensor', t.dtype);
  return handleOf('createPlan', 'weight', t);
}

/** Builds a plan: reorders every weight into the layout its convolution wants (read from the tensors, not copied), allocates the buffers. */
export function createPlan(spec: PlanSpec): PlanHandle {
  const steps = spec.steps.map((s) =>
    s.op === 'conv' ? { ...s, weight: weight(s.weight), weightShape: [...s.weight.shape], bias: weight(s.bias) } : s,
  );
  return binding.planCreate({ ...spec, precision: spec.precision === 'bf16' ? 'bf16' : 'f32', steps });
}

/** The implementation oneDNN chose for each step (e.g. 'brg:avx512_core', 'jit:avx512_core_bf16'). */
export function planInfo(plan: PlanHandle): string[] {
  return binding.planInfo(plan);
}

/** Releases a plan's weights and buffers now rather than at garbage collection (a run in flight finishes first). */
export function freePlan(plan: PlanHandle): void {
  binding.planFree(plan);
}

/** Runs a plan on clips [B, T, H, W, C] (contiguous float32, the shape it was built for): [B, C, T', H', W']. */
export const runPlan = op((plan: PlanHandle, clips: Tensor) => ['planRun', plan, handleOf('runPlan', 'clips', clips)]);
