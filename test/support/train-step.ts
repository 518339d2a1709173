// One optimisation step and one evaluation pass, each freeing its temporaries.
import * as F from '../../src/nn/functional.js';
import type { Module } from '../../src/nn/module.js';
import type { SGD } from '../../src/optim/sgd.js';
import { noGrad, scope } from '../../src/tensor/context.js';
import * as ops from '../../src/tensor/ops.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface Classifier extends Module {
  forward(x: Tensor): Tensor;
}

/** Forward, cross-entropy, backward, optimizer step. Returns the loss. */
export function trainStep(model: Classifier, opt: SGD, x: Tensor, y: Tensor): number {
  return scope(() => {
    model.train();
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  });
}

/** A training step on `batch` examples drawn at random (seeded by manualSeed) from clips and labels. */
export function trainOnRandomBatch(model: Classifier, opt: SGD, clips: Tensor, labels: Tensor, batch: number): number {
  return scope(() => {
    const idx = ops.randperm(clips.size(0)).narrow(0, 0, batch);
    return trainStep(model, opt, clips.indexSelect(0, idx), labels.indexSelect(0, idx));
  });
}

/** Fraction of correct top-1 predictions. */
export function accuracy(model: Classifier, x: Tensor, y: Tensor): number {
  return scope(() =>
    noGrad(() => {
      model.eval();
      const pred = model.forward(x).argmax(1);
      return pred.eq(y).to('float32').mean().item();
    }),
  );
}
