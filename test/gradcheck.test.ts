// Gradients through our bindings against central finite differences (float64).
import { test } from 'node:test';
import { F, manualSeed, ops, scope, tensor, type Tensor } from '../src/index.js';
import { gradcheck } from './helpers.js';

manualSeed(3);
const rnd = (shape: number[]) => ops.randn(shape, { dtype: 'float64' });

test('conv3d with asymmetric padding, stride and bias', () =>
  scope(() => {
    gradcheck(
      ([x, w, b]) => F.conv3d(x!, w!, { bias: b!, stride: [1, 2, 2], padding: [0, 1, 1, 2, 0, 1] }),
      [rnd([1, 2, 3, 5, 4]), rnd([3, 2, 2, 3, 2]), rnd([3])],
    );
  }));

test('conv3d with SAME padding', () =>
  scope(() => {
    gradcheck(([x, w]) => F.conv3d(x!, w!, { stride: 2, padding: 'same' }), [rnd([1, 2, 4, 5, 5]), rnd([2, 2, 3, 3, 3])]);
  }));

test('batch norm in training mode (batch statistics)', () =>
  scope(() => {
    gradcheck(
      ([x, g, b]) => F.batchNorm(x!, { weight: g!, bias: b!, training: true, eps: 1e-3 }),
      [rnd([3, 2, 2, 3, 2]), rnd([2]), rnd([2])],
    );
  }));

test('max pool 3d with SAME padding, and avg pool 3d', () =>
  scope(() => {
    gradcheck(([x]) => F.maxPool3d(x!, [1, 3, 3], { stride: [1, 2, 2], padding: 'same' }), [rnd([1, 2, 2, 5, 6])]);
    gradcheck(([x]) => F.avgPool3d(x!, [2, 3, 3], { stride: 1, padding: [0, 1, 1] }), [rnd([1, 2, 3, 4, 4])]);
  }));

test('LSTM: input, initial state and every weight', () =>
  scope(() => {
    const ps = [rnd([8, 3]), rnd([8, 2]), rnd([8]), rnd([8])];
    gradcheck(
      ([x, h0, c0, ...p]) => F.lstm(x!, [h0!, c0!], p as Tensor[], { batchFirst: true })[0]!,
      [rnd([2, 4, 3]), rnd([1, 2, 2]), rnd([1, 2, 2]), ...ps],
    );
  }));

test('cross-entropy with class indices and with probabilities', () =>
  scope(() => {
    const target = tensor(new BigInt64Array([1n, 0n, 3n]), [3]);
    gradcheck(([x]) => F.crossEntropy(x!, target, { labelSmoothing: 0.1 }), [rnd([3, 4])]);
    gradcheck(([x, t]) => F.crossEntropy(x!, t!.softmax(1)), [rnd([3, 4]), rnd([3, 4])]);
  }));
