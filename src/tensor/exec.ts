// Turns a prepared native call into a sync op and its `.async` twin, and gives results an owner.
import { native, type Handle, type NativeFn } from '../native/binding.js';
import { applyGradMode, currentContext, type Scope } from './context.js';
import type { Tensor } from './tensor.js';

/** A native op name followed by its arguments (tensors already turned into handles). */
export type NativeCall = readonly [string, ...unknown[]];

/** An op: call it to run now on this thread, or `.async(...)` to run it in the libuv pool and get a Promise. */
export interface OpFn<A extends unknown[], R> {
  (...args: A): R;
  async(...args: A): Promise<R>;
}

type Adopter = (h: Handle, scope: Scope | null) => Tensor;
let adopt: Adopter | null = null;
/** Set once by the Tensor module (kept apart to avoid an import cycle). */
export function setAdopter(f: Adopter): void {
  adopt = f;
}

type Kind = 'one' | 'many' | 'none';

function own(out: unknown, kind: Kind, scope: Scope | null): unknown {
  const wrap = adopt as Adopter;
  if (kind === 'none') return undefined;
  if (kind === 'one') return wrap(out as Handle, scope);
  return (out as (Handle | null)[]).map((h) => (h === null ? null : wrap(h, scope)));
}

function invoke(call: NativeCall, kind: Kind, async: boolean): unknown {
  const ctx = currentContext();
  applyGradMode(ctx.grad);
  const [name, ...args] = call;
  const fn = native[async ? `${name}Async` : name] as NativeFn;
  const out = fn(...args);
  if (!async) return own(out, kind, ctx.scope);
  return (out as Promise<unknown>).then((o) => own(o, kind, ctx.scope));
}

function make<A extends unknown[], R>(prep: (...a: A) => NativeCall, kind: Kind): OpFn<A, R> {
  const f = ((...a: A) => invoke(prep(...a), kind, false) as R) as OpFn<A, R>;
  f.async = (...a: A) => {
    try {
      return invoke(prep(...a), kind, true) as Promise<R>;
    } catch (e) {
      return Promise.reject(e as Error);
    }
  };
  return f;
}

/** An op returning one tensor. */
export const op = <A extends unknown[]>(prep: (...a: A) => NativeCall): OpFn<A, Tensor> => make(prep, 'one');
/** An op returning several tensors (null where libtorch returned none). */
export const opMany = <A extends unknown[], R extends (Tensor | null)[] = Tensor[]>(prep: (...a: A) => NativeCall): OpFn<A, R> =>
  make(prep, 'many');
/** An op that works in place and returns nothing. */
export const opNone = <A extends unknown[]>(prep: (...a: A) => NativeCall): OpFn<A, void> => make(prep, 'none');
