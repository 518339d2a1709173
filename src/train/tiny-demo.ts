// The interim end-to-end run: a tiny conv3d + LSTM learns the direction of motion in generated clips.
import { movingBars } from '../data/moving-bars.js';
import { TinyConvLstm } from '../models/tiny-conv-lstm.js';
import { SGD } from '../optim/sgd.js';
import { manualSeed } from '../runtime.js';
import { scope } from '../tensor/context.js';
import { accuracy, trainOnRandomBatch } from './step.js';

export interface TinyDemoOptions {
  steps?: number;
  batch?: number;
  seed?: number;
  onStep?: (step: number, loss: number) => void;
}

export interface TinyDemoResult {
  firstLoss: number;
  lastLoss: number;
  heldOutAccuracy: number;
  steps: number;
}

export function runTinyDemo(o: TinyDemoOptions = {}): TinyDemoResult {
  const steps = o.steps ?? 300;
  const batch = o.batch ?? 8;
  manualSeed(o.seed ?? 7);
  return scope(() => {
    const train = movingBars({ count: 64, seed: 1 });
    const test = movingBars({ count: 32, seed: 2 });
    const model = new TinyConvLstm({ classes: 2 });
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const losses: number[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const loss = trainOnRandomBatch(model, opt, train.clips, train.labels, batch);
        losses.push(loss);
        o.onStep?.(s + 1, loss);
      }
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const k = Math.max(1, Math.floor(steps / 10));
      return {
        firstLoss: avg(losses.slice(0, k)),
        lastLoss: avg(losses.slice(-k)),
        heldOutAccuracy: accuracy(model, test.clips, test.labels),
        steps,
      };
    } finally {
      opt.dispose();
      model.dispose();
    }
  });
}
