// The Tensor API: data in and out, metadata, views and layouts, math, seeding, threads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getNumThreads, manualSeed, ops, scope, setNumThreads, tensor, F } from '../src/index.js';

test('typed arrays go in and come back for float32, float64, int64, int32, uint8; bfloat16 widens to float32', () =>
  scope(() => {
    assert.deepEqual(tensor(new Float32Array([1.5, -2, 3])).data(), new Float32Array([1.5, -2, 3]));
    assert.deepEqual(tensor(new Float64Array([1e-300, 2])).data(), new Float64Array([1e-300, 2]));
    assert.deepEqual(tensor(new BigInt64Array([2n ** 40n, -3n])).data(), new BigInt64Array([2n ** 40n, -3n]));
    assert.deepEqual(tensor(new Int32Array([7, -7])).data(), new Int32Array([7, -7]));
    assert.deepEqual(tensor(new Uint8Array([0, 255])).data(), new Uint8Array([0, 255]));
    const b = tensor([1, 0.1, 300.7], [3], 'bfloat16');
    assert.equal(b.dtype, 'bfloat16');
    const back = b.data();
    assert.ok(back instanceof Float32Array);
    assert.equal(back[0], 1);
    assert.ok(Math.abs((back[1] as number) - 0.1) < 1e-3 && back[1] !== Math.fround(0.1), 'bfloat16 rounds to 8 bits of mantissa');
    assert.equal(tensor([1, 2, 3, 4], [2, 2], 'int64').dtype, 'int64');
  }));

test('shape, ndim, numel, size and errors for a shape that does not fit the data', () =>
  scope(() => {
    const t = ops.zeros([2, 3, 4]);
    assert.deepEqual(t.shape, [2, 3, 4]);
    assert.equal(t.ndim, 3);
    assert.equal(t.numel, 24);
    assert.equal(t.size(-1), 4);
    assert.throws(() => t.size(3), /size: 'dim' must be an integer in \[-3, 2\], got 3/);
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: 'shape' must be a shape with 3 elements, got \[2, 2\]/);
  }));

test('clips [B, T, H, W, C] permuted to [B, C, T, H, W] are channels-last-3d without a copy', () =>
  scope(() => {
    const clip = ops.randn([2, 4, 5, 6, 3]);
    const x = clip.permute([0, 4, 1, 2, 3]);
    assert.deepEqual(x.shape, [2, 3, 4, 5, 6]);
    assert.ok(x.isContiguous('channelsLast3d'));
    assert.ok(!x.isContiguous());
    const same = x.contiguous('channelsLast3d');
    assert.deepEqual(same.strides, x.strides, 'no copy needed');
    const y = x.contiguous();
    assert.ok(y.isContiguous());
    assert.deepEqual(y.permute([0, 2, 3, 4, 1]).contiguous().toArray(), clip.toArray());
    // conv3d accepts the channels-last view and gives the same numbers as on a contiguous copy
    const w = ops.randn([4, 3, 3, 3, 3]);
    const a = F.conv3d(x, w, { padding: 1 }).contiguous().toArray();
    const b = F.conv3d(y, w, { padding: 1 }).toArray();
    a.forEach((val, i) => assert.ok(Math.abs((val as number) - (b[i] as number)) < 1e-4));
  }));

test('reshape, view, transpose, squeeze, unsqueeze, flatten, expand, narrow, slice, cat, stack, flip, indexSelect', () =>
  scope(() => {
    const t = ops.arange(0, 12).reshape([3, 4]);
    assert.deepEqual(t.transpose(0, 1).contiguous().toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    assert.deepEqual(t.view([2, 6]).shape, [2, 6]);
    assert.deepEqual(t.unsqueeze(0).shape, [1, 3, 4]);
    assert.deepEqual(t.unsqueeze(0).squeeze(0).shape, [3, 4]);
    assert.deepEqual(t.reshape([3, 2, 2]).flatten(1).shape, [3, 4]);
    assert.deepEqual(ops.ones([1, 4]).expand([3, 4]).shape, [3, 4]);
    assert.deepEqual(t.narrow(1, 1, 2).contiguous().toArray(), [1, 2, 5, 6, 9, 10]);
    assert.deepEqual(t.slice(1, 0, 4, 2).contiguous().toArray(), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(ops.cat([t, t], 0).shape, [6, 4]);
    assert.deepEqual(ops.stack([t, t], 1).shape, [3, 2, 4]);
    assert.deepEqual(t.flip([1]).narrow(0, 0, 1).contiguous().toArray(), [3, 2, 1, 0]);
    assert.deepEqual(t.indexSelect(0, tensor([2, 0], [2], 'int64')).toArray(), [8, 9, 10, 11, 0, 1, 2, 3]);
  }));

test('elementwise arithmetic with tensors and numbers, comparisons, clamp, where', () =>
  scope(() => {
    const a = tensor([1, 2, 3, 4]);
    const b = tensor([4, 3, 2, 1]);
    assert.deepEqual(a.add(b).toArray(), [5, 5, 5, 5]);
    assert.deepEqual(a.sub(1).mul(2).div(b).toArray(), [0, 2 / 3, 2, 6].map(Math.fround));
    assert.deepEqual(a.pow(2).toArray(), [1, 4, 9, 16]);
    assert.deepEqual(a.gt(b).toArray(), [0, 0, 1, 1]);
    assert.deepEqual(a.eq(2).toArray(), [0, 1, 0, 0]);
    assert.equal(a.le(b).dtype, 'bool');
    assert.deepEqual(a.clamp(2, 3).toArray(), [2, 2, 3, 3]);
    assert.deepEqual(ops.where(a.lt(3), a, b).toArray(), [1, 2, 2, 1]);
    assert.deepEqual(
      a
        .neg()
        .abs()
        .sqrt()
        .exp()
        .log()
        .toArray()
        .map((x) => Math.round(Number(x) * 1e5) / 1e5),
      [1, 1.41421, 1.73205, 2],
    );
    assert.deepEqual(tensor([-1, 0, 2]).relu().toArray(), [0, 0, 2]);
    assert.ok(Math.abs(tensor([0]).sigmoid().item() - 0.5) < 1e-7);
    assert.ok(Math.abs(tensor([100]).tanh().item() - 1) < 1e-7);
  }));

test('reductions: sum, mean over dims, max, min, maxDim, argmax, topk, norm', () =>
  scope(() => {
    const t = tensor([3, 1, 4, 1, 5, 9], [2, 3]);
    assert.equal(t.sum().item(), 23);
    assert.deepEqual(t.sum(1).toArray(), [8, 15]);
    assert.deepEqual(t.mean([0], true).shape, [1, 3]);
    assert.deepEqual(t.mean(0).toArray(), [2, 3, 6.5]);
    assert.equal(t.max().item(), 9);
    assert.equal(t.min().item(), 1);
    const [vals, idx] = ops.maxDim(t, 1);
    assert.deepEqual(vals!.toArray(), [4, 9]);
    assert.deepEqual(idx!.toArray(), [2, 2]);
    assert.deepEqual(t.argmax(0).toArray(), [0, 1, 1]);
    const [tv, ti] = t.flatten().topk(3);
    assert.deepEqual(tv!.toArray(), [9, 5, 4]);
    assert.deepEqual(ti!.toArray(), [5, 4, 2]);
    assert.ok(Math.abs(tensor([3, 4]).norm().item() - 5) < 1e-6);
  }));

test('matmul, linear, softmax, logSoftmax', () =>
  scope(() => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    assert.deepEqual(a.matmul(a).toArray(), [7, 10, 15, 22]);
    const y = F.linear(tensor([1, 1], [1, 2]), a, tensor([0.5, -0.5]));
    assert.deepEqual(y.toArray(), [3.5, 6.5]);
    const p = tensor([1, 2, 3]).softmax(0).toArray();
    assert.ok(Math.abs(p.reduce((s, x) => s + Number(x), 0) - 1) < 1e-6);
    const lp = tensor([1, 2, 3]).logSoftmax(0).exp().toArray();
    assert.ok(Math.abs(Number(lp[2]) - Number(p[2])) < 1e-6);
  }));

test('dtype conversion, dropout in train and eval mode', () =>
  scope(() => {
    const t = tensor([1.7, -2.2]);
    assert.deepEqual(t.to('int64').toArray(), [1, -2]);
    assert.equal(t.to('float64').dtype, 'float64');
    assert.equal(t.to('cpu').device, 'cpu');
    assert.throws(() => t.to('tpu'), /to: 'target' must be one of float32/);
    const ones = ops.ones([1000]);
    assert.deepEqual(F.dropout(ones, 0.5, false).toArray(), ones.toArray());
    const d = F.dropout(ones, 0.5, true).toArray();
    const zeros = d.filter((x) => x === 0).length;
    assert.ok(zeros > 400 && zeros < 600, `about half dropped, got ${zeros}`);
    assert.ok(
      d.every((x) => x === 0 || x === 2),
      'survivors scaled by 1/(1-p)',
    );
  }));

test('manualSeed makes random tensors repeat', () =>
  scope(() => {
    manualSeed(42);
    const a = ops.randn([5]).toArray();
    const p = ops.randperm(6).toArray();
    manualSeed(42);
    assert.deepEqual(ops.randn([5]).toArray(), a);
    assert.deepEqual(ops.randperm(6).toArray(), p);
    const u = ops.rand([1000]).toArray();
    assert.ok(u.every((x) => Number(x) >= 0 && Number(x) < 1));
  }));

test('intra-op thread count can be set and read back', () => {
  const before = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(before);
  assert.equal(getNumThreads(), before);
  assert.throws(() => setNumThreads(0), /setNumThreads: 'n' must be an integer >= 1, got 0/);
});

test('autograd: requiresGrad, backward, grad, noGrad', async () => {
  const { noGrad, isGradEnabled } = await import('../src/index.js');
  scope(() => {
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    const y = noGrad(() => x.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(x.mul(2).requiresGrad, true);
  });
  // grad mode holds across await inside noGrad, and does not leak to code running beside it
  await noGrad(async () => {
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(isGradEnabled(), false);
    scope(() => {
      const x = tensor([1]);
      x.requiresGrad = true;
      assert.equal(x.mul(2).requiresGrad, false);
    });
  });
  assert.equal(isGradEnabled(), true);
});
