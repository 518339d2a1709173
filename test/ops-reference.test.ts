// Forward results of the bound ops against PyTorch (fixtures written by test/fixtures/make_ops.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, SGD, scope, type Tensor } from '../src/index.js';
import { assertClose, fx, loadJson, type FixtureTensor } from './helpers.js';

type Case = Record<string, FixtureTensor & number & string & number[] & FixtureTensor[] & Record<string, unknown>>;
const { cases } = loadJson<{ cases: Record<string, Case> }>('test/fixtures/ops.json');
const c = (name: string): Case => cases[name] as Case;

test('conv3d with explicit asymmetric padding and bias matches PyTorch', () =>
  scope(() => {
    const k = c('conv3d_asymmetric');
    const y = F.conv3d(fx(k.x), fx(k.w), { bias: fx(k.b), stride: k.stride, padding: k.padding });
    assertClose(y, k.y, 1e-10, 1e-9, 'conv3d');
  }));

test('conv3d with TensorFlow SAME padding at stride 2 (odd pixel after) matches PyTorch with explicit pads', () =>
  scope(() => {
    const k = c('conv3d_same_stride2');
    assertClose(F.conv3d(fx(k.x), fx(k.w), { stride: 2, padding: 'same' }), k.y, 1e-10, 1e-9, 'conv3d same');
  }));

test('conv3d in float32 agrees with the float64 reference to float32 precision', () =>
  scope(() => {
    const k = c('conv3d_asymmetric');
    const y = F.conv3d(fx(k.x).to('float32'), fx(k.w).to('float32'), { bias: fx(k.b).to('float32'), stride: k.stride, padding: k.padding });
    assert.equal(y.dtype, 'float32');
    assertClose(y.to('float64'), k.y, 1e-4, 1e-4, 'conv3d fp32');
  }));

test('batch norm in training uses batch statistics and updates the running ones in place', () =>
  scope(() => {
    const k = c('batch_norm_train');
    const rm = fx(k.running_mean);
    const rv = fx(k.running_var);
    const y = F.batchNorm(fx(k.x), {
      weight: fx(k.weight),
      bias: fx(k.bias),
      runningMean: rm,
      runningVar: rv,
      training: true,
      momentum: k.momentum,
      eps: k.eps,
    });
    assertClose(y, k.y, 1e-10, 1e-9, 'batchNorm y');
    assertClose(rm, k.running_mean_after, 1e-12, 1e-9, 'running mean');
    assertClose(rv, k.running_var_after, 1e-12, 1e-9, 'running var');
  }));

test('batch norm in evaluation without scale uses the running statistics', () =>
  scope(() => {
    const k = c('batch_norm_eval');
    const y = F.batchNorm(fx(k.x), { bias: fx(k.bias), runningMean: fx(k.running_mean), runningVar: fx(k.running_var), eps: k.eps });
    assertClose(y, k.y, 1e-10, 1e-9, 'batchNorm eval');
  }));

test('max pool 3d with SAME padding pads with -infinity', () =>
  scope(() => {
    const k = c('max_pool3d_same');
    assertClose(F.maxPool3d(fx(k.x), k.kernel, { stride: k.stride, padding: 'same' }), k.y, 0, 0, 'maxPool same');
    const p = c('max_pool3d_plain');
    assertClose(F.maxPool3d(fx(p.x), p.kernel, { stride: p.stride }), p.y, 0, 0, 'maxPool plain');
  }));

test('max pool 3d in float32 without gradient (oneDNN kernel): the same values, contiguous and channels-last, and a gradient path', () =>
  scope(() => {
    for (const name of ['max_pool3d_same', 'max_pool3d_plain']) {
      const k = c(name);
      const o = { stride: k.stride, ...(name.endsWith('same') && { padding: 'same' as const }) };
      const x = fx(k.x).to('float32');
      const want = fx(k.y).to('float32');
      const plain = F.maxPool3d(x, k.kernel, o);
      assert.ok(plain.isContiguous());
      assertClose(plain, want, 0, 0, `${name} (contiguous)`);
      const cl = x.contiguous('channelsLast3d');
      const pooled = F.maxPool3d(cl, k.kernel, o);
      assertClose(pooled, want, 0, 0, `${name} (channels-last)`);
      assert.deepEqual(pooled.strides, plain.permute([0, 2, 3, 4, 1]).contiguous().permute([0, 4, 1, 2, 3]).strides, 'keeps channels-last');
      // With a gradient to compute, libtorch's pool (with indices) runs: same values, and backward works.
      const g = x.clone();
      g.requiresGrad = true;
      const y = F.maxPool3d(g, k.kernel, o);
      assertClose(y, want, 0, 0, `${name} (with gradient)`);
      y.sum().backward();
      assert.equal(g.grad!.sum().item(), y.numel);
    }
  }));

test('avg pool 3d, valid and padded', () =>
  scope(() => {
    const k = c('avg_pool3d_valid');
    assertClose(F.avgPool3d(fx(k.x), k.kernel, { stride: k.stride }), k.y, 1e-12, 1e-10, 'avgPool valid');
    const p = c('avg_pool3d_padded');
    assertClose(F.avgPool3d(fx(p.x), p.kernel, { stride: p.stride, padding: p.padding }), p.y, 1e-12, 1e-10, 'avgPool padded');
  }));

test('two-layer LSTM matches torch.nn.LSTM (batch first, given initial state)', () =>
  scope(() => {
    const k = c('lstm_2layer');
    const [out, hn, cn] = F.lstm(fx(k.x), [fx(k.h0), fx(k.c0)], (k.params as FixtureTensor[]).map(fx), {
      numLayers: 2,
      batchFirst: true,
    }) as [Tensor, Tensor, Tensor];
    assertClose(out, k.out, 1e-12, 1e-9, 'lstm out');
    assertClose(hn, k.hn, 1e-12, 1e-9, 'lstm hn');
    assertClose(cn, k.cn, 1e-12, 1e-9, 'lstm cn');
  }));

test('cross-entropy with class indices, class probabilities, label smoothing and no reduction', () =>
  scope(() => {
    const k = c('cross_entropy');
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(F.crossEntropy(fx(k.logits), fx(k.target)).item(), k.loss_index as number);
    close(F.crossEntropy(fx(k.logits), fx(k.probs)).item(), k.loss_probs as number);
    close(F.crossEntropy(fx(k.logits), fx(k.target), { labelSmoothing: 0.1 }).item(), k.loss_smooth as number);
    assertClose(F.crossEntropy(fx(k.logits), fx(k.target), { reduction: 'none' }), k.loss_none, 1e-12, 1e-10, 'ce none');
  }));

test('SGD (plain, momentum, dampening + weight decay, Nesterov) follows torch.optim.SGD over three steps', () => {
  const k = c('sgd') as unknown as {
    p0: FixtureTensor;
    grads: FixtureTensor[];
    runs: Record<string, { options: Record<string, number | boolean>; p: FixtureTensor }>;
  };
  for (const [name, run] of Object.entries(k.runs)) {
    scope(() => {
      const p = fx(k.p0).keep();
      p.requiresGrad = true;
      const o = run.options;
      const opt = new SGD([p], {
        lr: o.lr as number,
        momentum: (o.momentum as number) ?? 0,
        dampening: (o.dampening as number) ?? 0,
        weightDecay: (o.weight_decay as number) ?? 0,
        nesterov: (o.nesterov as boolean) ?? false,
      });
      for (const g of k.grads) {
        scope(() => {
          opt.zeroGrad();
          p.mul(fx(g)).sum().backward();
          opt.step();
        });
      }
      assertClose(p, run.p, 1e-12, 1e-10, `SGD ${name}`);
      opt.dispose();
      p.dispose();
    });
  }
});

test('SGD state round trip: a restored optimizer continues exactly like the original', () =>
  scope(() => {
    const k = c('sgd') as unknown as { p0: FixtureTensor; grads: FixtureTensor[] };
    const run = (restartAfter: number | null) =>
      scope(() => {
        const p = fx(k.p0).keep();
        p.requiresGrad = true;
        let opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
        k.grads.forEach((g, i) => {
          if (i === restartAfter) {
            const saved = opt.state();
            const fresh = new SGD([p], { lr: 0.5, momentum: 0.9 });
            fresh.loadState(saved);
            opt.dispose();
            opt = fresh;
          }
          scope(() => {
            opt.zeroGrad();
            p.mul(fx(g)).sum().backward();
            opt.step();
          });
        });
        opt.dispose();
        return p;
      });
    const a = run(null);
    const b = run(2);
    assert.deepEqual(Array.from(b.data() as Float64Array), Array.from(a.data() as Float64Array));
    assert.notDeepEqual(Array.from(a.data() as Float64Array), k.p0.data);
  }));
