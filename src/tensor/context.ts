// Ownership scopes and grad mode, carried by AsyncLocalStorage so that both hold across `await`.
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from '../native/binding.js';

/** Something a scope can free: tensors register themselves here when they are created. */
export interface Owned {
  /** Frees native memory now (idempotent). */
  dispose(): void;
  /** The scope that will free it, or null when nothing will (kept or created outside any scope). */
  owner: Scope | null;
}

export class Scope {
  readonly items = new Set<Owned>();
  closed = false;
  constructor(readonly parent: Scope | null) {}

  adopt(t: Owned): void {
    // A scope that already ended (an async result that arrived late) hands the tensor to its parent.
    if (this.closed) {
      if (this.parent) this.parent.adopt(t);
      else t.owner = null;
      return;
    }
    t.owner = this;
    this.items.add(t);
  }

  release(t: Owned): void {
    this.items.delete(t);
    t.owner = null;
  }

  /** Frees every tensor it owns except those in `survivors`, which move to the parent scope. */
  close(survivors: Set<Owned>): void {
    this.closed = true;
    for (const t of this.items) {
      if (survivors.has(t)) {
        t.owner = null;
        this.parent?.adopt(t);
      } else {
        t.dispose();
      }
    }
    this.items.clear();
  }
}

interface Context {
  scope: Scope | null;
  grad: boolean;
}

const storage = new AsyncLocalStorage<Context>();
const root: Context = { scope: null, grad: true };

export function currentContext(): Context {
  return storage.getStore() ?? root;
}

let nativeGrad = true;
/** Brings libtorch's (thread-local) grad mode in line with the calling context before an op runs. */
export function applyGradMode(want: boolean): void {
  if (want !== nativeGrad) {
    native.setGradEnabled(want);
    nativeGrad = want;
  }
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function collect(v: unknown, out: Set<Owned>, seen: Set<unknown>, isOwned: (x: unknown) => boolean): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (isOwned(v)) {
    out.add(v as Owned);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, seen, isOwned);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, seen, isOwned);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen, isOwned);
}

let ownedCheck: (x: unknown) => boolean = () => false;
/** Set by the Tensor module: how to recognise a tensor in a scope's result. */
export function setOwnedCheck(f: (x: unknown) => boolean): void {
  ownedCheck = f;
}

/**
 * Runs `fn` in a new scope: every tensor created inside it is freed when it ends, except the tensors in its
 * result (a tensor, or arrays, Maps and plain objects holding tensors), which move to the enclosing scope.
 * `fn` may be async: the scope then ends when its promise settles, and it follows the code across `await`.
 */
export function scope<T>(fn: () => T): T {
  const parent = currentContext();
  const s = new Scope(parent.scope);
  const finish = (result: unknown): void => {
    const keep = new Set<Owned>();
    collect(result, keep, new Set(), ownedCheck);
    s.close(keep);
  };
  let r: T;
  try {
    r = storage.run({ scope: s, grad: parent.grad }, fn);
  } catch (e) {
    finish(undefined);
    throw e;
  }
  if (isPromise(r)) {
    return r.then(
      (v) => {
        finish(v);
        return v;
      },
      (e: unknown) => {
        finish(undefined);
        throw e;
      },
    ) as T;
  }
  finish(r);
  return r;
}

function withGrad<T>(grad: boolean, fn: () => T): T {
  const parent = currentContext();
  return storage.run({ scope: parent.scope, grad }, fn);
}

/** Runs `fn` without recording autograd history (inference, weight updates). Holds across `await`. */
export function noGrad<T>(fn: () => T): T {
  return withGrad(false, fn);
}

/** Turns gradient recording back on inside a `noGrad` region. */
export function enableGrad<T>(fn: () => T): T {
  return withGrad(true, fn);
}

export function isGradEnabled(): boolean {
  return currentContext().grad;
}
