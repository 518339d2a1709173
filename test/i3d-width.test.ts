// CPU-sized I3Ds: the width multiplier keeps the layers and names, scales the channels, and survives a save/load.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { I3D, loadModel, noGrad, ops, saveModel, scope } from '../src/index.js';

test('width 0.25 keeps every parameter name, quarters the channels and runs on a small clip', () => {
  const full = new I3D();
  const small = new I3D({ width: 0.25, classes: 5 });
  try {
    assert.deepEqual([...small.stateTensors().keys()], [...full.stateTensors().keys()]);
    assert.equal(full.featureChannels, 1024);
    assert.equal(small.featureChannels, 96 + 96 + 32 + 32);
    assert.deepEqual(small.stateTensors().get('Conv3d_1a_7x7.conv.weight')!.shape, [16, 3, 7, 7, 7]);
    assert.deepEqual(small.stateTensors().get('Conv3d_6a_1x1.conv.weight')!.shape, [5, 256, 1, 1, 1]);
    const count = (m: I3D) => [...m.stateTensors().values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    assert.ok(count(small) < count(full) / 12, `${count(small)} vs ${count(full)} values`);
    scope(() =>
      noGrad(() => {
        const out = small.eval().forward(ops.rand([2, 8, 32, 32, 3]));
        assert.deepEqual(out.features.shape, [2, 256]);
        assert.deepEqual(out.logits!.shape, [2, 5]);
      }),
    );
    for (const w of [0, 1.5, Number.NaN]) assert.throws(() => new I3D({ width: w }), /width.*\(0, 1\]/);
  } finally {
    full.dispose();
    small.dispose();
  }
});

test('a model folder records the width and loads it back bit-identically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i3d-width-'));
  const m = new I3D({ width: 0.125, stream: 'flow', classes: 3 }).eval();
  try {
    const config = saveModel(m, dir);
    assert.equal(config.width, 0.125);
    const { model } = loadModel(dir);
    try {
      assert.equal(model.width, 0.125);
      scope(() =>
        noGrad(() => {
          const x = ops.rand([1, 8, 32, 32, 2]);
          assert.deepEqual(model.forward(x).logits!.toArray(), m.forward(x).logits!.toArray());
        }),
      );
    } finally {
      model.dispose();
    }
  } finally {
    m.dispose();
    rmSync(dir, { recursive: true });
  }
});
