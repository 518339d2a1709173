// Tensor ops. Each is `name(...)` (runs now) with `name.async(...)` (runs off the JS thread, returns a Promise).
// Arguments are checked here; shape and dtype errors come from libtorch with its own message.
import type { DType } from './dtype.js';
import { op, opMany, opNone } from './exec.js';
import { handleOf as h } from './handle.js';
import type { MemoryFormat, Tensor } from './tensor.js';
import * as v from './validate.js';

export interface CreateOptions {
  dtype?: DType;
  device?: string;
}

function opts(where: string, o: CreateOptions): [string, string | null] {
  return [v.dtype(where, 'dtype', o.dtype ?? 'float32'), o.device === undefined ? null : v.device(where, 'device', o.device)];
}

// ---- creation ----
export const zeros = op((shape: readonly number[], o: CreateOptions = {}) => [
  'zeros',
  v.ints('zeros', 'shape', shape, 0),
  ...opts('zeros', o),
]);
export const ones = op((shape: readonly number[], o: CreateOptions = {}) => [
  'ones',
  v.ints('ones', 'shape', shape, 0),
  ...opts('ones', o),
]);
export const full = op((shape: readonly number[], value: number, o: CreateOptions = {}) => [
  'full',
  v.ints('full', 'shape', shape, 0),
  v.num('full', 'value', value),
  ...opts('full', o),
]);
/** Standard normal values (seeded by `manualSeed`). */
export const randn = op((shape: readonly number[], o: CreateOptions = {}) => [
  'randn',
  v.ints('randn', 'shape', shape, 0),
  ...opts('randn', o),
]);
/** Uniform values in [0, 1). */
export const rand = op((shape: readonly number[], o: CreateOptions = {}) => [
  'rand',
  v.ints('rand', 'shape', shape, 0),
  ...opts('rand', o),
]);
/** A random permutation of 0..n-1 (int64). */
export const randperm = op((n: number) => ['randperm', v.int('randperm', 'n', n, 0)]);
export const arange = op((start: number, end: number, step = 1, o: CreateOptions = {}) => [
  'arange',
  v.finite('arange', 'start', start),
  v.finite('arange', 'end', end),
  step === 0 ? v.fail('arange', 'step', 'a non-zero number', step) : v.finite('arange', 'step', step),
  ...opts('arange', o),
]);

// ---- shape and layout ----
export const reshape = op((x: Tensor, shape: readonly number[]) => [
  'reshape',
  h('reshape', 'x', x),
  v.ints('reshape', 'shape', shape, -1),
]);
export const view = op((x: Tensor, shape: readonly number[]) => ['view', h('view', 'x', x), v.ints('view', 'shape', shape, -1)]);
export const permute = op((x: Tensor, dims: readonly number[]) => ['permute', h('permute', 'x', x), v.ints('permute', 'dims', dims)]);
export const transpose = op((x: Tensor, d0: number, d1: number) => [
  'transpose',
  h('transpose', 'x', x),
  v.int('transpose', 'd0', d0),
  v.int('transpose', 'd1', d1),
]);
/** A contiguous copy (or the tensor itself when it already is) in the given memory format. */
export const contiguous = op((x: Tensor, format: MemoryFormat = 'contiguous') => [
  'contiguous',
  h('contiguous', 'x', x),
  v.oneOf('contiguous', 'format', format, ['contiguous', 'channelsLast3d'] as const),
]);
export const squeeze = op((x: Tensor, dim: number) => ['squeeze', h('squeeze', 'x', x), v.int('squeeze', 'dim', dim)]);
export const unsqueeze = op((x: Tensor, dim: number) => ['unsqueeze', h('unsqueeze', 'x', x), v.int('unsqueeze', 'dim', dim)]);
export const flatten = op((x: Tensor, start = 0, end = -1) => [
  'flatten',
  h('flatten', 'x', x),
  v.int('flatten', 'start', start),
  v.int('flatten', 'end', end),
]);
export const expand = op((x: Tensor, shape: readonly number[]) => ['expand', h('expand', 'x', x), v.ints('expand', 'shape', shape, -1)]);
export const narrow = op((x: Tensor, dim: number, start: number, length: number) => [
  'narrow',
  h('narrow', 'x', x),
  v.int('narrow', 'dim', dim),
  v.int('narrow', 'start', start),
  v.int('narrow', 'length', length, 0),
]);
export const slice = op((x: Tensor, dim: number, start: number, end: number, step = 1) => [
  'slice',
  h('slice', 'x', x),
  v.int('slice', 'dim', dim),
  v.int('slice', 'start', start),
  v.int('slice', 'end', end),
  v.int('slice', 'step', step, 1),
]);
function list(where: string, xs: readonly Tensor[]): unknown[] {
  if (!Array.isArray(xs) || xs.length === 0) v.fail(where, 'tensors', 'a non-empty array of Tensors', xs);
  return xs.map((x, i) => h(where, `tensors[${i}]`, x));
}
export const cat = op((xs: readonly Tensor[], dim = 0) => ['cat', list('cat', xs), v.int('cat', 'dim', dim)]);
export const stack = op((xs: readonly Tensor[], dim = 0) => ['stack', list('stack', xs), v.int('stack', 'dim', dim)]);
export const indexSelect = op((x: Tensor, dim: number, index: Tensor) => [
  'indexSelect',
  h('indexSelect', 'x', x),
  v.int('indexSelect', 'dim', dim),
  h('indexSelect', 'index', index),
]);
export const flip = op((x: Tensor, dims: readonly number[]) => ['flip', h('flip', 'x', x), v.ints('flip', 'dims', dims)]);
export const clone = op((x: Tensor) => ['clone', h('clone', 'x', x)]);
export const detach = op((x: Tensor) => ['detach', h('detach', 'x', x)]);
/** Converts to a dtype ('float32', 'bfloat16', ...) or moves to a device ('cpu', 'cuda', 'cuda:1'). */
export const to = op((x: Tensor, target: DType | string) => {
  const isDevice = typeof target === 'string' && /^(cpu|cuda)/.test(target);
  return ['to', h('to', 'x', x), isDevice ? null : v.dtype('to', 'target', target), isDevice ? v.device('to', 'target', target) : null];
});

// ---- elementwise ----
// Handles are numbers too, so a number operand goes to the op's own scalar form.
function binary(name: string) {
  return op((a: Tensor, b: Tensor | number) =>
    typeof b === 'number' ? [`${name}Scalar`, h(name, 'a', a), v.num(name, 'b', b)] : [name, h(name, 'a', a), h(name, 'b', b)],
  );
}
export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const pow = binary('pow');
export const eq = binary('eq');
export const ne = binary('ne');
export const lt = binary('lt');
export const le = binary('le');
export const gt = binary('gt');
export const ge = binary('ge');
export const maximum = binary('maximum');
export const minimum = binary('minimum');

function unary(name: string) {
  return op((x: Tensor) => [name, h(name, 'x', x)]);
}
export const neg = unary('neg');
export const exp = unary('exp');
export const log = unary('log');
export const sqrt = unary('sqrt');
export const abs = unary('abs');
export const relu = unary('relu');
export const sigmoid = unary('sigmoid');
export const tanh = unary('tanh');
export const floor = unary('floor');
export const round = unary('round');
export const isNan = unary('isNan');
export const isFinite = unary('isFinite');

export const clamp = op((x: Tensor, min: number | null, max: number | null = null) => [
  'clamp',
  h('clamp', 'x', x),
  min === null ? null : v.num('clamp', 'min', min),
  max === null ? null : v.num('clamp', 'max', max),
]);
export const where = op((cond: Tensor, a: Tensor, b: Tensor) => [
  'where',
  h('where', 'cond', cond),
  h('where', 'a', a),
  h('where', 'b', b),
]);

// ---- reductions ----
function dimsArg(where: string, dims: number | readonly number[] | undefined): number[] | null {
  if (dims === undefined) return null;
  return typeof dims === 'number' ? [v.int(where, 'dims', dims)] : v.ints(where, 'dims', dims);
}
export const sum = op((x: Tensor, dims?: number | readonly number[], keepDim = false) => [
  'sum',
  h('sum', 'x', x),
  dimsArg('sum', dims),
  v.bool('sum', 'keepDim', keepDim),
]);
export const mean = op((x: Tensor, dims?: number | readonly number[], keepDim = false) => [
  'mean',
  h('mean', 'x', x),
  dimsArg('mean', dims),
  v.bool('mean', 'keepDim', keepDim),
]);
export const max = op((x: Tensor) => ['max', h('max', 'x', x)]);
export const min = op((x: Tensor) => ['min', h('min', 'x', x)]);
/** [values, indices] of the maximum along `dim`. */
export const maxDim = opMany((x: Tensor, dim: number, keepDim = false) => [
  'maxDim',
  h('maxDim', 'x', x),
  v.int('maxDim', 'dim', dim),
  v.bool('maxDim', 'keepDim', keepDim),
]);
export const argmax = op((x: Tensor, dim: number, keepDim = false) => [
  'argmax',
  h('argmax', 'x', x),
  v.int('argmax', 'dim', dim),
  v.bool('argmax', 'keepDim', keepDim),
]);
/** [values, indices] of the k largest (or smallest) entries along `dim`, sorted. */
export const topk = opMany((x: Tensor, k: number, dim = -1, largest = true) => [
  'topk',
  h('topk', 'x', x),
  v.int('topk', 'k', k, 0),
  v.int('topk', 'dim', dim),
  v.bool('topk', 'largest', largest),
]);
/** The Frobenius norm of all elements. */
export const norm = op((x: Tensor) => ['norm', h('norm', 'x', x)]);

// ---- linear algebra ----
export const matmul = op((a: Tensor, b: Tensor) => ['matmul', h('matmul', 'a', a), h('matmul', 'b', b)]);
export const softmax = op((x: Tensor, dim: number) => ['softmax', h('softmax', 'x', x), v.int('softmax', 'dim', dim)]);
export const logSoftmax = op((x: Tensor, dim: number) => ['logSoftmax', h('logSoftmax', 'x', x), v.int('logSoftmax', 'dim', dim)]);

// ---- in place ----
export const addInPlace = opNone((x: Tensor, o: Tensor, alpha = 1) => [
  'addInPlace',
  h('addInPlace', 'x', x),
  h('addInPlace', 'o', o),
  v.num('addInPlace', 'alpha', alpha),
]);
export const mulInPlace = opNone((x: Tensor, s: number) => ['mulInPlace', h('mulInPlace', 'x', x), v.num('mulInPlace', 's', s)]);
export const copyInPlace = opNone((x: Tensor, src: Tensor) => ['copyInPlace', h('copyInPlace', 'x', x), h('copyInPlace', 'src', src)]);
export const fillInPlace = opNone((x: Tensor, value: number) => [
  'fillInPlace',
  h('fillInPlace', 'x', x),
  v.num('fillInPlace', 'value', value),
]);
export const uniformInPlace = opNone((x: Tensor, lo: number, hi: number) => [
  'uniformInPlace',
  h('uniformInPlace', 'x', x),
  v.finite('uniformInPlace', 'lo', lo),
  v.finite('uniformInPlace', 'hi', hi),
]);
export const normalInPlace = opNone((x: Tensor, mean: number, std: number) => [
  'normalInPlace',
  h('normalInPlace', 'x', x),
  v.finite('normalInPlace', 'mean', mean),
  v.finite('normalInPlace', 'std', std),
]);

// ---- autograd ----
/** Accumulates gradients of `t` (a scalar unless `grad` is given) into the leaves that require grad. */
export const backward = opNone((t: Tensor, grad?: Tensor, o: { retainGraph?: boolean } = {}) => [
  'backward',
  h('backward', 't', t),
  grad === undefined ? null : h('backward', 'grad', grad),
  v.bool('backward', 'retainGraph', o.retainGraph ?? false),
]);
