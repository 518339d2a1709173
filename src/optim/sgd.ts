// Stochastic gradient descent with momentum, Nesterov and weight decay: torch.optim.SGD's algorithm,
// one native call per step over all parameters.
import { native } from '../native/binding.js';
import { opMany } from '../tensor/exec.js';
import { handleOf as h, type Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** What a checkpoint keeps of the optimizer: hyper-parameters and one momentum buffer per parameter. */
export interface SgdState {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  buffers: (Tensor | null)[];
}

const sgdStep = opMany<[Tensor[], (Tensor | null)[], SgdState], (Tensor | null)[]>((params, buffers, s) => [
  'sgdStep',
  params.map((p, i) => h('SGD.step', `params[${i}]`, p)),
  buffers.map((b, i) => (b === null ? null : h('SGD.step', `buffers[${i}]`, b))),
  s.lr,
  s.momentum,
  s.dampening,
  s.weightDecay,
  s.nesterov,
]);

export class SGD {
  readonly params: Tensor[];
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  #buffers: (Tensor | null)[];

  constructor(params: readonly Tensor[], o: SgdOptions) {
    const where = 'SGD';
    if (!Array.isArray(params) || params.length === 0) v.fail(where, 'params', 'a non-empty array of Tensors', params);
    params.forEach((p, i) => h(where, `params[${i}]`, p));
    this.params = [...params];
    this.lr = v.finite(where, 'lr', o.lr);
    this.momentum = v.finite(where, 'momentum', o.momentum ?? 0);
    this.dampening = v.finite(where, 'dampening', o.dampening ?? 0);
    this.weightDecay = v.finite(where, 'weightDecay', o.weightDecay ?? 0);
    this.nesterov = v.bool(where, 'nesterov', o.nesterov ?? false);
    if (this.lr < 0) v.fail(where, 'lr', 'a number >= 0', this.lr);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      v.fail(where, 'nesterov', 'false unless momentum > 0 and dampening = 0', true);
    this.#buffers = this.params.map(() => null);
  }

  /** Drops all gradients (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    native.zeroGrad(this.params.map((p) => p.handle));
  }

  #adopt(next: (Tensor | null)[]): void {
    next.forEach((b, i) => {
      const old = this.#buffers[i];
      if (b) b.keep();
      if (old && old !== b) old.dispose();
      this.#buffers[i] = b;
    });
  }

  /** One update with the gradients the last backward() left; the learning rate may be changed between steps. */
  step(): void {
    this.#adopt(sgdStep(this.params, this.#buffers, this.state()));
  }

  async stepAsync(): Promise<void> {
    this.#adopt(await sgdStep.async(this.params, this.#buffers, this.state()));
  }

  /** The current state; buffers are the optimizer's own tensors (clone them to keep a copy). */
  state(): SgdState {
    const { lr, momentum, dampening, weightDecay, nesterov } = this;
    return { lr, momentum, dampening, weightDecay, nesterov, buffers: [...this.#buffers] };
  }

  /** Restores the learning rate and the momentum buffers (copied) from a saved state. */
  loadState(s: Pick<SgdState, 'lr' | 'buffers'>): void {
    if (!Array.isArray(s.buffers) || s.buffers.length !== this.params.length)
      v.fail('SGD.loadState', 'buffers', `an array of ${this.params.length} tensors or nulls`, s.buffers);
    this.lr = v.finite('SGD.loadState', 'lr', s.lr);
    this.#adopt(s.buffers.map((b) => (b === null ? null : b.clone())));
  }

  dispose(): void {
    this.#adopt(this.params.map(() => null));
  }
}
