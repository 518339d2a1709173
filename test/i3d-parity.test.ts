// I3D against an independent PyTorch implementation of the official model (test/fixtures/make_i3d.py):
// random full-size weights in the HDF5 layouts Keras writes (save_weights with every layer, model.save, Keras 1.2,
// and the older narrow layout), RGB and flow, with and without top, odd frame counts, non-square frames. The
// fixtures (~350 MB) are made at test time into a temporary folder, never committed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { noGrad, scope, tensor, type Tensor } from '../src/index.js';
import { I3D } from '../src/models/i3d.js';
import { loadKerasH5 } from '../src/weights/keras-h5.js';
import { loadModel, saveModel } from '../src/weights/model-folder.js';
import { type I3DCase, i3dParityFixtures, relErr, runCliAll, SHARED } from './helpers.js';

let dir = '';
let cases: I3DCase[] = [];

before(() => {
  ({ dir, cases } = i3dParityFixtures());
});

/** A case's clip (raw float32, written by the fixture script) as a tensor. */
function readClip(c: I3DCase): Tensor {
  return tensor(new Float32Array(readFileSync(join(dir, c.clip)).buffer.slice(0)), c.shape);
}

async function runCase(c: I3DCase): Promise<{ features: number; logits: number | null }> {
  const model = new I3D({ stream: c.stream, includeTop: c.includeTop, width: c.width, classes: c.classes }).eval();
  try {
    await loadKerasH5(model, join(dir, c.weights));
    return scope(() =>
      noGrad(() => {
        const clip = readClip(c);
        const out = model.forward(clip);
        assert.deepEqual(out.featureMap.shape.slice(0, 2), [c.shape[0], 1024]);
        return {
          features: relErr(out.features.toArray(), c.features),
          logits: c.logits && out.logits ? relErr(out.logits.toArray(), c.logits) : null,
        };
      }),
    );
  } finally {
    model.dispose();
  }
}

for (const name of ['rgb_top_odd_nonsquare', 'flow_top_224', 'rgb_notop', 'flow_notop_keras1', 'rgb_top_model_save', 'rgb_top_narrow']) {
  test(`I3D ${name}: features and logits match the PyTorch reference (relative error <= 1e-4, fp32)`, async () => {
    const c = cases.find((x) => x.name === name)!;
    const err = await runCase(c);
    console.log(`${name}: features ${err.features.toExponential(2)}, logits ${err.logits?.toExponential(2) ?? '-'}`);
    assert.ok(err.features <= 1e-4, `features relative error ${err.features}`);
    if (c.includeTop) assert.ok(err.logits !== null && err.logits <= 1e-4, `logits relative error ${err.logits}`);
    else assert.equal(err.logits, null);
  });
}

test('a weights file that does not fit is refused with the first mismatches, and the model is left unchanged', async () => {
  const rgb = cases.find((x) => x.name === 'rgb_top_odd_nonsquare')!;
  const flow = new I3D({ stream: 'flow' });
  const before = flow.parameters()[0]!.toArray().slice(0, 5);
  await assert.rejects(loadKerasH5(flow, join(dir, rgb.weights)), (e: Error) => {
    assert.match(e.message, /does not fit this model \(1 mismatches\)/);
    assert.match(e.message, /'Conv3d_1a_7x7_conv\/kernel:0' has shape \[7, 7, 7, 3, 64\], expected \[7, 7, 7, 2, 64\]/);
    return true;
  });
  assert.deepEqual(flow.parameters()[0]!.toArray().slice(0, 5), before);
  flow.dispose();
  const noTop = new I3D({ includeTop: false });
  await assert.rejects(loadKerasH5(noTop, join(dir, rgb.weights)), /unexpected 'Conv3d_6a_1x1_conv\/(kernel|bias):0'/);
  noTop.dispose();
  const withTop = new I3D();
  await assert.rejects(
    loadKerasH5(withTop, join(dir, 'rgb_notop.h5')),
    /missing 'Conv3d_6a_1x1_conv\/kernel:0' \(for Conv3d_6a_1x1\.conv\.weight/,
  );
  withTop.dispose();
});

test('missing and non-HDF5 weights files get clear errors', async () => {
  const m = new I3D({ includeTop: false });
  await assert.rejects(loadKerasH5(m, join(dir, 'nope.h5')), /nope\.h5: no such weights file/);
  const junk = join(dir, 'junk.h5');
  writeFileSync(junk, 'not hdf5 at all');
  await assert.rejects(loadKerasH5(m, junk), /junk\.h5: not an HDF5 file/);
  m.dispose();
});

test('clips of the wrong shape are refused with the expected layout', () => {
  const m = new I3D({ stream: 'flow', includeTop: false });
  scope(() => {
    assert.throws(
      () => m.forward(tensor(new Float32Array(8 * 32 * 32 * 3), [1, 8, 32, 32, 3])),
      /\[batch, frames >= 8, height >= 32, width >= 32, 2\] \(flow\), got "shape \[1, 8, 32, 32, 3\]"/,
    );
    assert.throws(() => m.forward(tensor(new Float32Array(7 * 32 * 32 * 2), [1, 7, 32, 32, 2])), /frames >= 8/);
  });
  m.dispose();
});

test('round trip: Keras HDF5 -> our folder (safetensors + config.json) -> load gives bit-identical logits', async () => {
  const c = cases.find((x) => x.name === 'rgb_top_odd_nonsquare')!;
  const out = mkdtempSync(join(tmpdir(), 'i3d-model-'));
  const keras = new I3D().eval();
  try {
    await loadKerasH5(keras, join(dir, c.weights));
    const labels = readFileSync(join(SHARED, 'data/kinetics-i3d/label_map.txt'), 'utf8').trim().split('\n');
    const saved = saveModel(keras, out, { labels });
    assert.equal(saved.labels?.[0], 'abseiling');
    const { model, config } = loadModel(out);
    try {
      assert.deepEqual(config, saved);
      assert.deepEqual(config.preprocessing, { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1] });
      scope(() =>
        noGrad(() => {
          const clip = readClip(c);
          const a = keras.forward(clip).logits!.data();
          const b = model.forward(clip).logits!.data();
          assert.deepEqual(b, a, 'bit-identical');
        }),
      );
    } finally {
      model.dispose();
    }
    // a damaged file or config is refused with a clear message
    truncateSync(join(out, 'model.safetensors'), 1000);
    assert.throws(() => loadModel(out), /model\.safetensors: not a valid safetensors file/);
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...saved, stream: 'depth' }));
    assert.throws(() => loadModel(out), /config\.json: 'stream' must be "rgb" or "flow"/);
    assert.throws(() => loadModel(join(out, 'nowhere')), /not a model folder \(no config\.json\)/);
  } finally {
    keras.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});

test('i3d convert infers the architecture from Keras files, stores labels, and fails clearly', async () => {
  const out = mkdtempSync(join(tmpdir(), 'i3d-convert-'));
  const labelMap = join(SHARED, 'data/kinetics-i3d/label_map.txt');
  try {
    // Independent conversions, two at a time.
    const [rgb, flow, notop, saved, keras1, narrow] = await runCliAll([
      ['convert', join(dir, 'rgb_top_odd_nonsquare.h5'), join(out, 'rgb'), '--labels', labelMap],
      ['convert', join(dir, 'flow_top_224.h5'), join(out, 'flow')],
      ['convert', join(dir, 'rgb_notop.h5'), join(out, 'notop')],
      // model.save's layout, Keras 1.2's names and the older narrow layout
      ['convert', join(dir, 'rgb_top_model_save.h5'), join(out, 'saved')],
      ['convert', join(dir, 'flow_notop_keras1.h5'), join(out, 'keras1')],
      ['convert', join(dir, 'rgb_top_narrow.h5'), join(out, 'narrow')],
    ]);
    for (const r of [rgb, flow, notop, saved, keras1, narrow]) assert.equal(r!.status, 0, r!.stderr);
    assert.match(rgb!.stdout, /\(keras-h5\) -> .*: I3D rgb, 400 classes, with labels/);
    const { model, config } = loadModel(join(out, 'rgb'));
    assert.equal(config.labels?.[399], 'zumba');
    model.dispose();
    assert.match(flow!.stdout, /I3D flow, 400 classes/);
    assert.match(notop!.stdout, /I3D rgb, no top/);
    assert.match(saved!.stdout, /\(keras-h5\) -> .*: I3D rgb, 400 classes/);
    assert.match(keras1!.stdout, /I3D flow, no top/);
    for (const [folder, name] of [
      ['rgb', 'rgb_top_odd_nonsquare'],
      ['saved', 'rgb_top_model_save'],
      ['keras1', 'flow_notop_keras1'],
      ['narrow', 'rgb_top_narrow'],
    ] as const) {
      const c = cases.find((x) => x.name === name)!;
      const { model: m } = loadModel(join(out, folder));
      try {
        const err = scope(() =>
          noGrad(() => {
            const got = m.forward(readClip(c));
            return relErr((c.logits ? got.logits! : got.features).toArray(), c.logits ?? c.features);
          }),
        );
        assert.ok(err <= 1e-4, `${name} converted: relative error ${err}`);
      } finally {
        m.dispose();
      }
    }
    const [copy, ckpt, nope, bad] = await runCliAll([
      ['convert', join(out, 'rgb'), join(out, 'copy')],
      ['convert', join(SHARED, 'data/kinetics-i3d/checkpoints/rgb_imagenet/model.ckpt'), join(out, 'ckpt')],
      ['convert', join(out, 'nope.h5'), join(out, 'x')],
      ['convert', join(dir, 'rgb_top_odd_nonsquare.h5'), join(out, 'bad'), '--labels', join(SHARED, 'data/kinetics-i3d/label_map_600.txt')],
    ]);
    assert.match(copy!.stdout, /\(folder\) -> .*: I3D rgb, 400 classes, with labels/);
    assert.equal(ckpt!.status, 4, 'bad weights');
    assert.match(ckpt!.stderr, /model\.ckpt\.data-00000-of-00001: the checkpoint's data file is missing/);
    assert.equal(nope!.status, 4, 'bad weights');
    assert.match(nope!.stderr, /nope\.h5: no such weights file/);
    assert.equal(bad!.status, 4, 'bad weights');
    assert.match(bad!.stderr, /600 labels for a model of 400 classes/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
