// The base of every layer and model: named parameters and buffers, child modules, train/eval mode, disposal.
import { noGrad } from '../tensor/context.js';
import type { Tensor } from '../tensor/tensor.js';

export abstract class Module {
  #training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a trainable tensor (kept out of scopes, requires grad). */
  protected param(name: string, t: Tensor): Tensor {
    t.keep();
    noGrad(() => (t.requiresGrad = true));
    this.#params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor saved with the model (e.g. batch-norm running statistics). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    this.#buffers.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** This module and every module under it, depth first. */
  *modules(): Generator<Module> {
    yield this;
    for (const c of this.#children.values()) yield* c.modules();
  }

  /** Parameters and buffers by name (for checkpoints). */
  stateTensors(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  get training(): boolean {
    return this.#training;
  }

  train(on = true): this {
    this.#training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Runs `fn` with this module in eval mode and no gradient, then puts the mode back as it was. */
  evaluating<T>(fn: () => T): T {
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(fn);
    } finally {
      if (wasTraining) this.train();
    }
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.#params.values()) t.dispose();
    for (const t of this.#buffers.values()) t.dispose();
    for (const c of this.#children.values()) c.dispose();
  }
}
