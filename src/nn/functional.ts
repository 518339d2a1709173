// Neural-network ops over tensors in libtorch's [N, C, T, H, W] layout (models permute from the API's
// [N, T, H, W, C] with a view: channels-last-3d memory keeps that byte order).
import { isGradEnabled } from '../tensor/context.js';
import { op, opMany, type OpFn } from '../tensor/exec.js';
import * as ops from '../tensor/ops.js';
import { handleOf as h, type Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';

/**
 * Padding of a 3-D op: a number or [t, h, w] (the same before and after), six numbers
 * [tBefore, tAfter, hBefore, hAfter, wBefore, wAfter], 'valid' (none) or 'same' (TensorFlow's rule:
 * output = ceil(input / stride), and the odd pixel goes after).
 */
export type Padding3d = number | readonly number[] | 'same' | 'valid';

/** Per dimension [before, after] pairs for an input of spatial size `size` (t, h, w). */
export function resolvePadding(
  where: string,
  padding: Padding3d,
  size: readonly number[],
  kernel: readonly number[],
  stride: readonly number[],
  dilation: readonly number[] = [1, 1, 1],
): number[] {
  if (padding === 'valid') return [0, 0, 0, 0, 0, 0];
  if (padding === 'same') {
    const out: number[] = [];
    for (let i = 0; i < 3; i++) {
      const n = size[i] as number;
      const s = stride[i] as number;
      const k = ((kernel[i] as number) - 1) * (dilation[i] as number) + 1;
      const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
      const before = Math.floor(total / 2);
      out.push(before, total - before);
    }
    return out;
  }
  if (Array.isArray(padding) && padding.length === 6) return v.ints(where, 'padding', padding, 0);
  const p = v.intN(where, 'padding', padding, 3, 0);
  return [p[0], p[0], p[1], p[1], p[2], p[2]] as number[];
}

/** Splits [before, after] pairs into what the op pads itself (symmetric part) and what must be padded first. */
function splitPadding(pairs: readonly number[]): { symmetric: number[]; extra: number[] | null } {
  const symmetric: number[] = [];
  const extra: number[] = [];
  let any = false;
  for (let i = 0; i < 3; i++) {
    const b = pairs[2 * i] as number;
    const a = pairs[2 * i + 1] as number;
    const m = Math.min(a, b);
    symmetric.push(m);
    extra.push(b - m, a - m);
    any ||= a !== b;
  }
  // constant_pad_nd takes the last dimension first: [wB, wA, hB, hA, tB, tA]
  return { symmetric, extra: any ? ([extra[4], extra[5], extra[2], extra[3], extra[0], extra[1]] as number[]) : null };
}

function spatial(where: string, x: Tensor): number[] {
  h(where, 'x', x);
  if (x.ndim !== 5) v.fail(where, 'x', 'a 5-D tensor [N, C, T, H, W]', `shape [${x.shape.join(', ')}]`);
  return x.shape.slice(2);
}

/** constant_pad_nd: `pads` last dimension first, [before, after] per dimension, as torch.nn.functional.pad. */
export const pad = op((x: Tensor, pads: readonly number[], value = 0) => [
  'pad',
  h('pad', 'x', x),
  v.ints('pad', 'pads', pads),
  v.num('pad', 'value', value),
]);

/**
 * An op on `x` padded first by `plan.extra` (the asymmetric part the op cannot pad itself) with `value`;
 * the padded copy is freed once the op has run. Sync and `.async` forms, like every op.
 */
function padThen<P extends { extra: number[] | null }>(raw: OpFn<[Tensor, P], Tensor>, value: number): OpFn<[Tensor, P], Tensor> {
  const f = ((x: Tensor, plan: P): Tensor => {
    if (!plan.extra) return raw(x, plan);
    const padded = pad(x, plan.extra, value);
    try {
      return raw(padded, plan);
    } finally {
      padded.dispose();
    }
  }) as OpFn<[Tensor, P], Tensor>;
  f.async = async (x: Tensor, plan: P): Promise<Tensor> => {
    if (!plan.extra) return raw.async(x, plan);
    const padded = await pad.async(x, plan.extra, value);
    try {
      return await raw.async(padded, plan);
    } finally {
      padded.dispose();
    }
  };
  return f;
}

/** Adds `.async` to an op that first works out a plan from its arguments, then runs `run` on the plan. */
function planned<A extends unknown[], P>(plan: (...a: A) => [Tensor, P], run: OpFn<[Tensor, P], Tensor>): OpFn<A, Tensor> {
  const f = ((...a: A) => run(...plan(...a))) as OpFn<A, Tensor>;
  f.async = async (...a: A) => run.async(...plan(...a));
  return f;
}

export interface Conv3dOptions {
  bias?: Tensor | null;
  stride?: number | readonly number[];
  padding?: Padding3d;
  dilation?: number | readonly number[];
  groups?: number;
}

function conv3dPlan(x: Tensor, w: Tensor, o: Conv3dOptions) {
  const where = 'conv3d';
  const size = spatial(where, x);
  const weight = h(where, 'weight', w);
  if (w.ndim !== 5) v.fail(where, 'weight', 'a 5-D tensor [out, in/groups, kt, kh, kw]', `shape [${w.shape.join(', ')}]`);
  const stride = v.intN(where, 'stride', o.stride ?? 1, 3, 1);
  const dilation = v.intN(where, 'dilation', o.dilation ?? 1, 3, 1);
  const groups = v.int(where, 'groups', o.groups ?? 1, 1);
  const pairs = resolvePadding(where, o.padding ?? 0, size, w.shape.slice(2), stride, dilation);
  const { symmetric, extra } = splitPadding(pairs);
  const bias = o.bias == null ? null : h(where, 'bias', o.bias);
  return { weight, stride, dilation, groups, symmetric, extra, bias };
}

type Conv3dPlan = ReturnType<typeof conv3dPlan>;
const conv3dRaw = op((x: Tensor, p: Conv3dPlan) => [
  'conv3d',
  h('conv3d', 'x', x),
  p.weight,
  p.bias,
  p.stride,
  p.symmetric,
  p.dilation,
  p.groups,
]);

/** 3-D convolution of x [N, C, T, H, W] with weight [O, C/groups, kt, kh, kw]; any padding, asymmetric included. */
export const conv3d = planned(
  (x: Tensor, w: Tensor, o: Conv3dOptions = {}): [Tensor, Conv3dPlan] => [x, conv3dPlan(x, w, o)],
  padThen(conv3dRaw, 0),
);

export interface Pool3dOptions {
  stride?: number | readonly number[];
  padding?: Padding3d;
  ceilMode?: boolean;
}

function poolPlan(where: string, x: Tensor, kernel: number | readonly number[], o: Pool3dOptions) {
  const size = spatial(where, x);
  const k = v.intN(where, 'kernel', kernel, 3, 1);
  const stride = v.intN(where, 'stride', o.stride ?? k, 3, 1);
  const pads = resolvePadding(where, o.padding ?? 0, size, k, stride);
  const { symmetric, extra } = splitPadding(pads);
  const padL = [pads[0]!, pads[2]!, pads[4]!];
  const padR = [pads[1]!, pads[3]!, pads[5]!];
  return { k, stride, symmetric, extra, padL, padR, ceil: v.bool(where, 'ceilMode', o.ceilMode ?? false) };
}

type PoolPlan = ReturnType<typeof poolPlan>;
const maxPoolRaw = op((x: Tensor, p: PoolPlan) => ['maxPool3d', h('maxPool3d', 'x', x), p.k, p.stride, p.symmetric, p.ceil]);
const maxPoolLibtorch = padThen(maxPoolRaw, -Infinity);
// oneDNN's max pool (no indices, padding inside the kernel): 4-10x faster than libtorch's, but without a backward.
const maxPoolOnednn = op((x: Tensor, p: PoolPlan) => ['maxPool3dInference', h('maxPool3d', 'x', x), p.k, p.stride, p.padL, p.padR]);

/** Where no gradient can flow through a float32 CPU pool, oneDNN's kernel runs it; elsewhere libtorch's. */
function maxPoolRun(x: Tensor, p: PoolPlan): OpFn<[Tensor, PoolPlan], Tensor> {
  const fast = !p.ceil && x.dtype === 'float32' && x.device === 'cpu' && !(isGradEnabled() && x.requiresGrad);
  return fast ? maxPoolOnednn : maxPoolLibtorch;
}
const maxPoolAny = ((x: Tensor, p: PoolPlan) => maxPoolRun(x, p)(x, p)) as OpFn<[Tensor, PoolPlan], Tensor>;
maxPoolAny.async = (x: Tensor, p: PoolPlan) => maxPoolRun(x, p).async(x, p);

/** 3-D max pooling; padding pads with -infinity (so 'same' matches TensorFlow). */
export const maxPool3d = planned(
  (x: Tensor, kernel: number | readonly number[], o: Pool3dOptions = {}): [Tensor, PoolPlan] => [x, poolPlan('maxPool3d', x, kernel, o)],
  maxPoolAny,
);

export interface AvgPool3dOptions {
  stride?: number | readonly number[];
  /** Symmetric only: a number or [t, h, w]. */
  padding?: number | readonly number[];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

/** 3-D average pooling (symmetric zero padding, counted in the average unless countIncludePad is false). */
export const avgPool3d = op((x: Tensor, kernel: number | readonly number[], o: AvgPool3dOptions = {}) => {
  const where = 'avgPool3d';
  spatial(where, x);
  const k = v.intN(where, 'kernel', kernel, 3, 1);
  return [
    'avgPool3d',
    h(where, 'x', x),
    k,
    v.intN(where, 'stride', o.stride ?? k, 3, 1),
    v.intN(where, 'padding', o.padding ?? 0, 3, 0),
    v.bool(where, 'ceilMode', o.ceilMode ?? false),
    v.bool(where, 'countIncludePad', o.countIncludePad ?? true),
  ];
});

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Normalise with the batch's statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/** Batch normalisation over dimension 1. In training, running statistics are updated in place. */
export const batchNorm = op((x: Tensor, o: BatchNormOptions = {}) => {
  const where = 'batchNorm';
  const opt = (name: string, t: Tensor | null | undefined) => (t == null ? null : h(where, name, t));
  const training = v.bool(where, 'training', o.training ?? false);
  if (!training && (o.runningMean == null || o.runningVar == null))
    v.fail(where, 'runningMean/runningVar', 'tensors when training is false', null);
  return [
    'batchNorm',
    h(where, 'x', x),
    opt('weight', o.weight),
    opt('bias', o.bias),
    opt('runningMean', o.runningMean),
    opt('runningVar', o.runningVar),
    training,
    v.finite(where, 'momentum', o.momentum ?? 0.1),
    v.finite(where, 'eps', o.eps ?? 1e-5),
  ];
});

export const linear = op((x: Tensor, weight: Tensor, bias: Tensor | null = null) => [
  'linear',
  h('linear', 'x', x),
  h('linear', 'weight', weight),
  bias === null ? null : h('linear', 'bias', bias),
]);

export const dropout = op((x: Tensor, p: number, training: boolean) => {
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) v.fail('dropout', 'p', 'a number in [0, 1)', p);
  return ['dropout', h('dropout', 'x', x), p, v.bool('dropout', 'training', training)];
});

export interface LstmOptions {
  numLayers?: number;
  dropout?: number;
  training?: boolean;
  bidirectional?: boolean;
  batchFirst?: boolean;
}

/**
 * libtorch's LSTM. `params`: per layer (and direction) w_ih [4H, I], w_hh [4H, H], b_ih [4H], b_hh [4H], gates
 * in the order input, forget, cell, output. `state`: [h0, c0] of shape [layers * directions, N, H], or null for zeros.
 * Returns [output, hN, cN].
 */
export const lstm = opMany((x: Tensor, state: readonly [Tensor, Tensor], params: readonly Tensor[], o: LstmOptions = {}) => {
  const where = 'lstm';
  const layers = v.int(where, 'numLayers', o.numLayers ?? 1, 1);
  const dirs = o.bidirectional ? 2 : 1;
  if (!Array.isArray(params) || params.length !== 4 * layers * dirs)
    v.fail(where, 'params', `${4 * layers * dirs} tensors (w_ih, w_hh, b_ih, b_hh per layer and direction)`, params);
  if (!Array.isArray(state) || state.length !== 2) v.fail(where, 'state', '[h0, c0]', state);
  return [
    'lstm',
    h(where, 'x', x),
    [h(where, 'state[0]', state[0]), h(where, 'state[1]', state[1])],
    params.map((p, i) => h(where, `params[${i}]`, p)),
    layers,
    v.finite(where, 'dropout', o.dropout ?? 0),
    v.bool(where, 'training', o.training ?? false),
    v.bool(where, 'bidirectional', o.bidirectional ?? false),
    v.bool(where, 'batchFirst', o.batchFirst ?? false),
  ];
});

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  weight?: Tensor | null;
  reduction?: Reduction;
  labelSmoothing?: number;
}

/**
 * Cross-entropy of logits [N, C] against class indices (int64 [N]) or class probabilities (float [N, C],
 * e.g. one-hot: Keras's categorical cross-entropy).
 */
export const crossEntropy = op((logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}) => {
  const where = 'crossEntropy';
  const ls = o.labelSmoothing ?? 0;
  if (typeof ls !== 'number' || !(ls >= 0 && ls <= 1)) v.fail(where, 'labelSmoothing', 'a number in [0, 1]', ls);
  return [
    'crossEntropy',
    h(where, 'logits', logits),
    h(where, 'target', target),
    o.weight == null ? null : h(where, 'weight', o.weight),
    v.oneOf(where, 'reduction', o.reduction ?? 'mean', ['mean', 'sum', 'none'] as const),
    ls,
  ];
});

export const mseLoss = op((a: Tensor, b: Tensor, reduction: Reduction = 'mean') => [
  'mseLoss',
  h('mseLoss', 'a', a),
  h('mseLoss', 'b', b),
  v.oneOf('mseLoss', 'reduction', reduction, ['mean', 'sum', 'none'] as const),
]);

export const { relu, sigmoid, tanh, softmax, logSoftmax } = ops;
