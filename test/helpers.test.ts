// The comparison helper every reference test rests on: it must fail on NaN, infinities and shape mismatches.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor } from '../src/tensor/tensor.js';
import { scope } from '../src/tensor/context.js';
import { assertClose } from './helpers.js';

const fixture = (data: number[]) => ({ shape: [data.length], data });

test('assertClose fails when the actual value is NaN or infinite where the reference is a number', () => {
  scope(() => {
    assert.throws(() => assertClose(tensor([1, Number.NaN, 3], [3], 'float64'), fixture([1, 2, 3])), /element 1 is NaN, expected 2/);
    assert.throws(() => assertClose(tensor([Infinity], [1], 'float64'), fixture([2])), /element 0 is Infinity/);
    assert.throws(() => assertClose(tensor([2], [1], 'float64'), fixture([Number.NaN])), /element 0 is 2, expected NaN/);
  });
});

test('assertClose passes within tolerance, on matching NaNs and infinities, and fails outside it', () => {
  scope(() => {
    assertClose(tensor([1, Number.NaN, -Infinity], [3], 'float64'), fixture([1 + 1e-12, Number.NaN, -Infinity]));
    assert.throws(() => assertClose(tensor([1], [1], 'float64'), fixture([1.001])), /element 0 is 1, expected 1.001/);
    assert.throws(() => assertClose(tensor([1, 2], [2], 'float64'), fixture([1, 2, 3])), /shape/);
  });
});
