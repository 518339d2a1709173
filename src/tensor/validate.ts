// Argument checks run before anything reaches native code; messages name the call, the parameter and what it accepts.
import { errorClass } from '../core/errors.js';
import { DTYPES, isDType, type DType } from './dtype.js';

/** A wrong argument to a library call (I3D_INVALID_ARGUMENT). An I3DError, no longer a TypeError. */
export class ArgumentError extends errorClass('ArgumentError', 'I3D_INVALID_ARGUMENT') {}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (v !== null && typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return String(v);
}

export function fail(where: string, param: string, expected: string, got: unknown): never {
  throw new ArgumentError(`${where}: '${param}' must be ${expected}, got ${show(got)}`);
}

export function int(where: string, param: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    fail(where, param, min === -Infinity ? 'an integer' : `an integer >= ${min}`, v);
  return v;
}

export function num(where: string, param: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) fail(where, param, 'a number', v);
  return v;
}

export function finite(where: string, param: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, param, 'a finite number', v);
  return v;
}

export function bool(where: string, param: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(where, param, 'true or false', v);
  return v;
}

export function ints(where: string, param: string, v: unknown, min = -Infinity): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= min))
    fail(where, param, min === -Infinity ? 'an array of integers' : `an array of integers >= ${min}`, v);
  return v as number[];
}

/** An integer or a list of `n` integers (kernel sizes, strides, paddings), expanded to `n`. */
export function intN(where: string, param: string, v: unknown, n: number, min = 0): number[] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min) return new Array<number>(n).fill(v);
  if (Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x >= min)) return v as number[];
  return fail(where, param, `an integer >= ${min} or ${n} of them`, v);
}

export function dtype(where: string, param: string, v: unknown): DType {
  if (!isDType(v)) fail(where, param, `one of ${DTYPES.join(', ')}`, v);
  return v;
}

export function device(where: string, param: string, v: unknown): string {
  if (typeof v !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(v)) fail(where, param, "'cpu', 'cuda' or 'cuda:N'", v);
  return v;
}

export function oneOf<T extends string>(where: string, param: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    fail(where, param, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  return v as T;
}
