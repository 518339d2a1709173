// The Tensor type: an owned reference to a libtorch tensor, with metadata, data access and op methods.
import { native, type Handle } from '../native/binding.js';
import { currentContext, setOwnedCheck, type Owned, type Scope } from './context.js';
import { dtypeOfArray, viewOf, type DataTypeMap, type DType, type TypedArray } from './dtype.js';
import { setAdopter } from './exec.js';
import { TENSOR } from './handle.js';
import * as ops from './ops.js';
import { fail } from './validate.js';

// A backstop only: a tensor that was never disposed is freed after garbage collection.
const collected = new FinalizationRegistry<Handle>((h) => native.dispose(h));

export type MemoryFormat = 'contiguous' | 'channelsLast3d';

export class Tensor implements Owned {
  #h: Handle | null;
  #shape: readonly number[] | null = null;
  #dtype: DType | null = null;
  owner: Scope | null = null;

  /** @internal The brand handleOf checks (tensor/handle.ts). */
  get [TENSOR](): true {
    return true;
  }

  private constructor(h: Handle) {
    this.#h = h;
    collected.register(this, h, this);
  }

  /** @internal Wraps a native handle; the tensor belongs to `scope` (or to nobody). */
  static adopt(h: Handle, scope: Scope | null): Tensor {
    const t = new Tensor(h);
    scope?.adopt(t);
    return t;
  }

  /** @internal The native handle; throws when the tensor was disposed. */
  get handle(): Handle {
    if (this.#h === null) throw new Error('tensor was disposed'); // a plain Error (exit 1): a bug in the caller
    return this.#h;
  }

  get isDisposed(): boolean {
    return this.#h === null;
  }

  /** Frees the native memory now. Safe to call twice. */
  dispose(): void {
    if (this.#h === null) return;
    native.dispose(this.#h);
    this.#h = null;
    collected.unregister(this);
    this.owner?.release(this);
  }

  /** Takes the tensor out of its scope: it lives until `dispose()` (or garbage collection). */
  keep(): this {
    this.owner?.release(this);
    return this;
  }

  get shape(): readonly number[] {
    return (this.#shape ??= Object.freeze(native.shape(this.handle)));
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const d = dim < 0 ? dim + this.ndim : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.ndim) fail('size', 'dim', `an integer in [${-this.ndim}, ${this.ndim - 1}]`, dim);
    return this.shape[d] as number;
  }
  get dtype(): DType {
    return (this.#dtype ??= native.dtype(this.handle) as DType);
  }
  get device(): string {
    return native.device(this.handle);
  }
  get strides(): number[] {
    return native.strides(this.handle);
  }
  isContiguous(format: MemoryFormat = 'contiguous'): boolean {
    return native.isContiguous(this.handle, format);
  }

  /** A copy of the values in row-major order, on the CPU (bfloat16/float16 widen to float32). */
  data<D extends DType = DType>(): DataTypeMap[D] {
    return viewOf(this.dtype, native.toBuffer(this.handle)) as DataTypeMap[D];
  }
  /** The values as plain numbers, row-major (int64 values beyond 2^53 lose precision). */
  toArray(): number[] {
    return Array.from(this.data() as ArrayLike<number | bigint>, Number);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) fail('item', 'tensor', 'a tensor of one element', `shape [${this.shape.join(', ')}]`);
    return Number(this.data()[0]);
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  set requiresGrad(v: boolean) {
    if (typeof v !== 'boolean') fail('requiresGrad', 'value', 'true or false', v);
    native.setRequiresGrad(this.handle, v);
  }
  /** The gradient accumulated by `backward()`, or null. A new tensor object owned by the current scope. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : Tensor.adopt(g, currentContext().scope);
  }
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    ops.backward(this, grad, options);
  }
  backwardAsync(grad?: Tensor, options: { retainGraph?: boolean } = {}): Promise<void> {
    return ops.backward.async(this, grad, options);
  }

  // ---- op methods (the functions in ./ops.ts) ----
  reshape(shape: readonly number[]): Tensor {
    return ops.reshape(this, shape);
  }
  view(shape: readonly number[]): Tensor {
    return ops.view(this, shape);
  }
  permute(dims: readonly number[]): Tensor {
    return ops.permute(this, dims);
  }
  transpose(d0: number, d1: number): Tensor {
    return ops.transpose(this, d0, d1);
  }
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return ops.contiguous(this, format);
  }
  squeeze(dim: number): Tensor {
    return ops.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  flatten(start = 0, end = -1): Tensor {
    return ops.flatten(this, start, end);
  }
  expand(shape: readonly number[]): Tensor {
    return ops.expand(this, shape);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return ops.slice(this, dim, start, end, step);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return ops.indexSelect(this, dim, index);
  }
  flip(dims: readonly number[]): Tensor {
    return ops.flip(this, dims);
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  detach(): Tensor {
    return ops.detach(this);
  }
  to(target: DType | string): Tensor {
    return ops.to(this, target);
  }
  add(o: Tensor | number): Tensor {
    return ops.add(this, o);
  }
  sub(o: Tensor | number): Tensor {
    return ops.sub(this, o);
  }
  mul(o: Tensor | number): Tensor {
    return ops.mul(this, o);
  }
  div(o: Tensor | number): Tensor {
    return ops.div(this, o);
  }
  pow(o: Tensor | number): Tensor {
    return ops.pow(this, o);
  }
  eq(o: Tensor | number): Tensor {
    return ops.eq(this, o);
  }
  ne(o: Tensor | number): Tensor {
    return ops.ne(this, o);
  }
  lt(o: Tensor | number): Tensor {
    return ops.lt(this, o);
  }
  le(o: Tensor | number): Tensor {
    return ops.le(this, o);
  }
  gt(o: Tensor | number): Tensor {
    return ops.gt(this, o);
  }
  ge(o: Tensor | number): Tensor {
    return ops.ge(this, o);
  }
  maximum(o: Tensor | number): Tensor {
    return ops.maximum(this, o);
  }
  minimum(o: Tensor | number): Tensor {
    return ops.minimum(this, o);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return ops.clamp(this, min, max);
  }
  sum(dims?: number | readonly number[], keepDim = false): Tensor {
    return ops.sum(this, dims, keepDim);
  }
  mean(dims?: number | readonly number[], keepDim = false): Tensor {
    return ops.mean(this, dims, keepDim);
  }
  max(): Tensor {
    return ops.max(this);
  }
  min(): Tensor {
    return ops.min(this);
  }
  argmax(dim: number, keepDim = false): Tensor {
    return ops.argmax(this, dim, keepDim);
  }
  topk(k: number, dim = -1, largest = true): Tensor[] {
    return ops.topk(this, k, dim, largest);
  }
  norm(): Tensor {
    return ops.norm(this);
  }
  matmul(o: Tensor): Tensor {
    return ops.matmul(this, o);
  }
  softmax(dim: number): Tensor {
    return ops.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return ops.logSoftmax(this, dim);
  }
  isFinite(): Tensor {
    return ops.isFinite(this);
  }

  // ---- in place (run these under noGrad on tensors that require grad) ----
  addInPlace(o: Tensor, alpha = 1): this {
    ops.addInPlace(this, o, alpha);
    return this;
  }
  mulInPlace(s: number): this {
    ops.mulInPlace(this, s);
    return this;
  }
  copyFrom(src: Tensor): this {
    ops.copyInPlace(this, src);
    return this;
  }
  fill(v: number): this {
    ops.fillInPlace(this, v);
    return this;
  }
  uniform(lo: number, hi: number): this {
    ops.uniformInPlace(this, lo, hi);
    return this;
  }
  normal(mean: number, std: number): this {
    ops.normalInPlace(this, mean, std);
    return this;
  }
}

setAdopter(Tensor.adopt);
setOwnedCheck((x) => x instanceof Tensor);

/** Native tensors alive in this thread (made and not yet disposed or collected), as the addon counts them. */
export function liveTensors(): number {
  return native.liveCount();
}

/** Bytes of native memory reported to V8 for its garbage-collection heuristics (tensors' data included). */
export function reportedNativeBytes(): number {
  return native.externalMemory();
}

export { handleOf } from './handle.js';

/**
 * A tensor with a copy of `data`. `shape` defaults to `[data.length]`; `dtype` to the typed array's own
 * (number arrays become float32). Owned by the current scope.
 */
export function tensor(data: TypedArray | readonly number[], shape?: readonly number[], dtype?: DType, device?: string): Tensor {
  const where = 'tensor';
  const arrDtype = Array.isArray(data) ? null : dtypeOfArray(data as ArrayBufferView);
  if (!Array.isArray(data) && arrDtype === null) fail(where, 'data', 'a number array or typed array', data);
  const dt = dtype ?? arrDtype ?? 'float32';
  const s = shape ?? [data.length];
  if (!Array.isArray(s) || !s.every((x) => Number.isInteger(x) && x >= 0)) fail(where, 'shape', 'an array of integers >= 0', s);
  const n = s.reduce((a, b) => a * b, 1);
  if (n !== data.length) fail(where, 'shape', `a shape with ${data.length} elements`, s);
  let buf: ArrayBufferView;
  if (dt === 'bfloat16' || dt === 'float16') {
    // built as float32, converted natively
    const f = tensor(Float32Array.from(data as ArrayLike<number>), s, 'float32', device);
    const out = f.to(dt);
    f.dispose();
    return out;
  }
  if (arrDtype === dt) buf = data as ArrayBufferView;
  else if (dt === 'int64') buf = BigInt64Array.from(Array.from(data as ArrayLike<number | bigint>, (x) => BigInt(x)));
  else {
    const Ctor = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array }[dt];
    buf = Ctor.from(Array.from(data as ArrayLike<number | bigint>, Number));
  }
  const ctx = currentContext();
  return Tensor.adopt(native.fromBuffer(buf, s, dt, device), ctx.scope);
}
