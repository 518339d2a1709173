// Bad shapes, dtypes and devices raise catchable errors carrying libtorch's message; the process lives on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { join } from 'node:path';
import { F, ops, scope, tensor } from '../src/index.js';
import { ROOT } from './helpers.js';

test('shape and dtype errors from libtorch are JavaScript Errors with its message', () =>
  scope(() => {
    const x = ops.randn([1, 3, 4, 8, 8]);
    assert.throws(() => F.conv3d(x, ops.randn([4, 2, 3, 3, 3])), /expected input\[1, 3, 4, 8, 8\] to have 2 channels, but got 3 channels/);
    assert.throws(() => ops.matmul(ops.ones([2, 3]), ops.ones([2, 3])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    assert.throws(() => ops.add(ops.ones([2]), ops.ones([3])), /The size of tensor a \(2\) must match the size of tensor b \(3\)/);
    assert.throws(() => F.crossEntropy(ops.randn([2, 3]), tensor([0.5, 1], [2])), /Error/);
    assert.throws(() => ops.reshape(ops.ones([6]), [4, 2]), /shape '\[4, 2\]' is invalid for input of size 6/);
    assert.throws(() => F.conv3d(x.to('int64'), ops.randn([4, 3, 3, 3, 3])), /Error/);
  }));

test('argument errors name the call, the parameter and what it accepts', () =>
  scope(() => {
    const x = ops.randn([1, 3, 4, 8, 8]);
    assert.throws(
      () => F.conv3d(x, ops.randn([4, 3, 3, 3, 3]), { stride: 0 }),
      /conv3d: 'stride' must be an integer >= 1 or 3 of them, got 0/,
    );
    assert.throws(
      () => F.conv3d(ops.ones([3, 3]), ops.ones([1])),
      /conv3d: 'x' must be a 5-D tensor \[N, C, T, H, W\], got "shape \[3, 3\]"/,
    );
    assert.throws(() => ops.zeros([2], { dtype: 'float8' as 'float32' }), /zeros: 'dtype' must be one of float32, float64, bfloat16/);
    assert.throws(
      () => F.crossEntropy(x, x, { reduction: 'avg' as 'mean' }),
      /crossEntropy: 'reduction' must be one of 'mean', 'sum', 'none', got "avg"/,
    );
    assert.throws(() => F.dropout(x, 1.5, true), /dropout: 'p' must be a number in \[0, 1\), got 1.5/);
  }));

test('async ops reject with libtorch message instead of throwing', async () => {
  await scope(async () => {
    await assert.rejects(ops.matmul.async(ops.ones([2, 3]), ops.ones([4, 5])), /mat1 and mat2 shapes cannot be multiplied/);
    await assert.rejects(F.conv3d.async(ops.ones([1, 2, 3, 3, 3]), ops.ones([1, 5, 1, 1, 1])), /channels/);
  });
});

test('a process that hits many libtorch errors survives and still computes', () => {
  const script = `
    import { F, ops, scope } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
    let caught = 0;
    const bad = [
      () => ops.matmul(ops.ones([2, 3]), ops.ones([2, 3])),
      () => F.conv3d(ops.ones([1, 3, 2, 2, 2]), ops.ones([1, 4, 3, 3, 3])),
      () => ops.to(ops.ones([2]), 'cuda:7'),
      () => F.lstm(ops.ones([2, 3, 4]), [ops.ones([1, 2, 5]), ops.ones([1, 2, 5])], [ops.ones([3, 3]), ops.ones([3, 3]), ops.ones([3]), ops.ones([3])]),
      () => F.batchNorm(ops.ones([2, 3, 1, 1, 1]), { runningMean: ops.zeros([4]), runningVar: ops.ones([4]) }),
      () => ops.cat([ops.ones([2, 2]), ops.ones([3])]),
      () => ops.ones([2]).backward(),
    ];
    for (let i = 0; i < 200; i++) for (const f of bad) { try { scope(f); } catch (e) { if (e instanceof Error) caught++; } }
    await Promise.allSettled(Array.from({ length: 50 }, () => ops.matmul.async(ops.ones([2, 3]), ops.ones([4]))));
    console.log('caught', caught, 'sum', ops.ones([3]).mul(2).sum().item());
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /caught 1400 sum 6/);
});
