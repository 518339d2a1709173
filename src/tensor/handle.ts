// The native handle behind a Tensor argument. Kept apart from tensor.ts so that the ops module, which tensor.ts's
// methods call, needs only Tensor's type (no import cycle): a Tensor carries the TENSOR brand on its prototype.
import type { Handle } from '../native/binding.js';
import { ArgumentError, fail } from './validate.js';

/** The brand every Tensor has (a getter on its prototype); not exported from the package. */
export const TENSOR: unique symbol = Symbol('i3d.Tensor');

interface Branded {
  readonly [TENSOR]: true;
  readonly handle: Handle;
  readonly isDisposed: boolean;
}

/** The native handle of a tensor argument, with an error naming the call and parameter otherwise. */
export function handleOf(where: string, param: string, v: unknown): Handle {
  if (typeof v !== 'object' || v === null || (v as Partial<Branded>)[TENSOR] !== true) return fail(where, param, 'a Tensor', v);
  const t = v as Branded;
  if (t.isDisposed) throw new ArgumentError(`${where}: '${param}' was disposed`);
  return t.handle;
}
