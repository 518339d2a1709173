// The fused inference path (batch norm folded, ReLU fused, oneDNN blocked layout) against the same independent
// PyTorch reference as the eager model (test/fixtures/make_i3d.py): RGB and flow, with and without top, odd frame
// counts, non-square frames, a batch of two. bf16: top-1 agreement with fp32 and its relative error, reported.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { createEngine, FusedI3D, cpuSupport, I3DLSTM, noGrad, ops, reportedNativeBytes, scope, tensor, type Tensor } from '../src/index.js';
import { I3D } from '../src/models/i3d.js';
import { fusedUnsupported } from '../src/inference/i3d-plan.js';
import { lstmLogits } from '../src/train/evaluate.js';
import { loadKerasH5 } from '../src/weights/keras-h5.js';
import { type I3DCase, i3dParityFixtures, relErr } from './helpers.js';

let dir = '';
let cases: I3DCase[] = [];
const models = new Map<string, I3D>();

before(async () => {
  ({ dir, cases } = i3dParityFixtures());
  // The full-width cases (the fixture also holds narrow Keras-layout variants that the loader tests use).
  for (const c of cases.filter((x) => ['rgb_top_odd_nonsquare', 'flow_top_224', 'rgb_notop'].includes(x.name))) {
    const m = new I3D({ stream: c.stream, includeTop: c.includeTop }).eval();
    await loadKerasH5(m, join(dir, c.weights));
    models.set(c.name, m);
  }
});

function readClip(c: I3DCase): Tensor {
  return tensor(new Float32Array(readFileSync(join(dir, c.clip)).buffer.slice(0)), c.shape);
}

const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));

for (const name of ['rgb_top_odd_nonsquare', 'flow_top_224', 'rgb_notop']) {
  test(`fused I3D ${name}: fp32 matches the PyTorch reference (relative error <= 1e-4)`, () => {
    const c = cases.find((x) => x.name === name)!;
    const fused = new FusedI3D(models.get(name)!);
    const err = scope(() => {
      const out = fused.forward(readClip(c));
      assert.deepEqual(out.featureMap.shape.slice(0, 2), [c.shape[0], 1024]);
      return {
        features: relErr(out.features.toArray(), c.features),
        logits: c.logits && out.logits ? relErr(out.logits.toArray(), c.logits) : null,
      };
    });
    console.log(`fused fp32 ${name}: features ${err.features.toExponential(2)}, logits ${err.logits?.toExponential(2) ?? '-'}`);
    assert.ok(err.features <= 1e-4, `features relative error ${err.features}`);
    if (c.includeTop) assert.ok(err.logits !== null && err.logits <= 1e-4, `logits relative error ${err.logits}`);
  });
}

test(
  'fused bf16: the same top-1 class as fp32 on the parity clips; relative error reported',
  { skip: !cpuSupport().bf16 && `oneDNN has no bf16 kernels here (ISA ${cpuSupport().isa})` },
  () => {
    for (const c of cases.filter((x) => x.includeTop && models.has(x.name))) {
      const fused = new FusedI3D(models.get(c.name)!, { precision: 'bf16' });
      const logits = scope(() => fused.forward(readClip(c)).logits!.toArray());
      const err = relErr(logits, c.logits!);
      console.log(
        `fused bf16 ${c.name}: logits relative error ${err.toExponential(2)}, top-1 ${argmax(logits)} (fp32 ${argmax(c.logits!)})`,
      );
      assert.equal(argmax(logits), argmax(c.logits!), `${c.name}: bf16 top-1`);
      // bf16 keeps 8 bits of mantissa: a few percent through 57 layers; far more would mean a wrong layout or weight.
      assert.ok(err < 0.1, `${c.name}: bf16 logits relative error ${err}`);
    }
  },
);

test('fused: a batch gives the rows of its clips run one by one; repeated runs reuse the plan and give the same result', () => {
  const c = cases.find((x) => x.name === 'rgb_notop')!;
  const fused = new FusedI3D(models.get(c.name)!);
  scope(() => {
    const clips = readClip(c);
    const both = fused.featureMap(clips).toArray();
    const first = fused.featureMap(clips.narrow(0, 0, 1).contiguous()).toArray();
    const second = fused.featureMap(clips.narrow(0, 1, 1).contiguous()).toArray();
    assert.deepEqual(both, [...first, ...second]);
    assert.deepEqual(fused.featureMap(clips).toArray(), both);
  });
});

test('fused: runs off the JavaScript thread, and builds one plan per clip shape', async () => {
  const m = models.get('rgb_notop')!;
  const fused = new FusedI3D(m);
  const a = ops.rand([1, 8, 64, 64, 3]).mul(2).sub(1);
  const b = ops.rand([1, 9, 32, 40, 3]).mul(2).sub(1);
  const [fa, fb] = await Promise.all([fused.featureMapAsync(a), fused.featureMapAsync(b)]);
  const ea = noGrad(() => m.forwardFeatures(a));
  const eb = noGrad(() => m.forwardFeatures(b));
  assert.deepEqual(fa.shape, ea.shape);
  assert.deepEqual(fb.shape, [1, 1024, 2, 1, 2]);
  assert.ok(relErr(fa.toArray(), ea.toArray()) < 1e-5);
  assert.ok(relErr(fb.toArray(), eb.toArray()) < 1e-5);
  // Each step reports a real oneDNN implementation: nothing fell back to the reference kernels.
  const impl = fused.implementations(8, 64, 64);
  assert.ok(impl.length > 57, `${impl.length} steps`);
  assert.ok(!impl.some((s) => s.startsWith('ref')), impl.join(', '));
  for (const t of [a, b, fa, fb, ea, eb]) t.dispose();
});

test('fused: a plan reports its memory to V8 while held, and gives it back when freed', () => {
  const fused = new FusedI3D(models.get('rgb_notop')!);
  const before = reportedNativeBytes();
  fused.plan(16, 112, 112);
  const held = reportedNativeBytes() - before;
  // The buffers (the largest: 64 channels x 8 x 56 x 56 floats = 6.4 MB) and the weights' reordered copy (~50 MB).
  assert.ok(held > 50e6 && held < 200e6, `plan bytes ${held}`);
  fused.dispose(); // also frees the folded weights, reported before `before`
  assert.ok(reportedNativeBytes() <= before, 'the plan and the folded weights are given back');
});

test('fused: refuses what it cannot run, with the reason', () => {
  const narrow = new I3D({ width: 0.25 });
  assert.match(fusedUnsupported(narrow) ?? '', /multiples of 8 channels/);
  assert.throws(() => new FusedI3D(narrow), /FusedI3D: its Inception branches \(width 0.25\)/);
  narrow.dispose();
  const half = new I3D({ width: 0.5 });
  assert.throws(() => new FusedI3D(half, { block: 16 }), /FusedI3D: its Inception branches \(width 0.5\) do not start on multiples of 16/);
  assert.throws(() => new FusedI3D(half, { block: 12 as 8 }), /'block' must be 8 or 16, got 12/);
  half.dispose();
  const fused = new FusedI3D(models.get('rgb_notop')!);
  assert.throws(() => fused.featureMap(ops.zeros([1, 4, 64, 64, 3])), /frames >= 8/);
  assert.throws(() => fused.featureMap(ops.zeros([1, 8, 64, 64, 2])), /\[batch, frames >= 8, height >= 32, width >= 32, 3\] \(rgb\)/);
  assert.throws(() => new FusedI3D(models.get('rgb_notop')!, { precision: 'fp16' as 'fp32' }), /precision/);
});

test('fused: a half-width I3D (branches on 8-channel boundaries) runs in 8-channel blocks and matches the eager ops', () => {
  const half = new I3D({ width: 0.5 }).eval();
  const fused = new FusedI3D(half);
  try {
    assert.equal(fused.block, 8);
    scope(() => {
      const clip = ops.rand([1, 8, 48, 40, 3]).mul(2).sub(1);
      const eager = noGrad(() => half.forwardFeatures(clip));
      assert.ok(relErr(fused.featureMap(clip).toArray(), eager.toArray()) < 1e-5);
    });
    assert.equal(fused.layout(8, 48, 40), 8);
    assert.ok(!fused.implementations(8, 48, 40).some((s) => s.startsWith('ref')));
  } finally {
    fused.dispose();
    half.dispose();
  }
});

test('an I3D-LSTM evaluated through the engine (fused backbone; eager for a narrow one) equals its own forward', async () => {
  for (const width of [1, 0.125]) {
    const model = new I3DLSTM({ classes: 5, backbone: new I3D({ includeTop: false, width }) }).eval();
    const engine = createEngine(model.backbone);
    try {
      assert.equal(engine.kind, width === 1 ? 'fused' : 'eager');
      const clips = ops.rand([2, 2, 8, 32, 48, 3]).mul(2).sub(1);
      const reference = noGrad(() => model.forward(clips)).toArray();
      const viaEngine = await lstmLogits(model, engine, clips.data() as Float32Array, clips.shape);
      assert.ok(relErr(viaEngine, reference) < 1e-5, `width ${width}: relative error ${relErr(viaEngine, reference)}`);
      clips.dispose();
    } finally {
      engine.dispose();
      model.dispose();
    }
  }
});
