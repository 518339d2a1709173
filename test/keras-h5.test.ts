// Keras HDF5 files as Keras writes them (test/fixtures/make_i3d.py): every layer of the functional model in
// `layer_names` (weightless ones with empty weight_names of any dtype), byte-string and unicode names, Keras'
// chunked attributes, Keras 1.2 names, model.save's layout; and the files that must be refused. Then the same
// files through `i3d predict --weights` and as the backbone of `i3d train`.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { noGrad, scope, tensor, writeNpy, writeSyntheticActions } from '../src/index.js';
import { backboneDigest } from '../src/features/extract.js';
import { I3D } from '../src/models/i3d.js';
import { loadBackbone } from '../src/weights/backbone.js';
import { canonicalWeightName, loadKerasH5, openKerasH5 } from '../src/weights/keras-h5.js';
import { type I3DCase, i3dParityFixtures, relErr, runCli } from './helpers.js';

let dir = '';
let cases: I3DCase[] = [];
let tmp = '';
const caseOf = (name: string): I3DCase => {
  const c = cases.find((x) => x.name === name);
  assert.ok(c, `no fixture case '${name}'`);
  return c;
};
const clipOf = (c: I3DCase): Float32Array => new Float32Array(readFileSync(join(dir, c.clip)).buffer.slice(0));

before(() => {
  ({ dir, cases } = i3dParityFixtures());
  tmp = mkdtempSync(join(tmpdir(), 'i3d-keras-h5-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Loads a case's file into a fresh model of its architecture; returns the relative errors and the state. */
async function run(c: I3DCase): Promise<{ features: number; logits: number; state: Map<string, number[]> }> {
  const model = new I3D({ stream: c.stream, includeTop: c.includeTop, width: c.width, classes: c.classes }).eval();
  try {
    await loadKerasH5(model, join(dir, c.weights));
    const state = new Map([...model.stateTensors()].map(([k, t]) => [k, t.toArray()]));
    return scope(() =>
      noGrad(() => {
        const out = model.forward(tensor(clipOf(c), c.shape));
        return {
          features: relErr(out.features.toArray(), c.features),
          logits: out.logits && c.logits ? relErr(out.logits.toArray(), c.logits) : Number.NaN,
          state,
        };
      }),
    );
  } finally {
    model.dispose();
  }
}

test("openKerasH5 reads every layer of Keras' layer_names, weightless ones included, and the file's attributes", async () => {
  for (const name of ['rgb_top_odd_nonsquare', 'flow_top_224', 'rgb_notop', 'flow_notop_keras1']) {
    const c = caseOf(name);
    const { weights, info, close } = await openKerasH5(join(dir, c.weights));
    close();
    assert.deepEqual(info.layers, c.layerNames, name);
    assert.equal(info.layout, 'save_weights');
    assert.equal(info.backend, 'tensorflow');
    assert.equal(info.kerasVersion, name.endsWith('keras1') ? '1.2.2' : '2.1.5');
    for (const l of ['input_1', 'Conv3d_1a_7x7', 'MaxPool2d_2a_3x3', 'Mixed_3b', 'Mixed_5c', 'global_avg_pool'])
      assert.ok(info.layers.includes(l), `${name} lists ${l}`);
    if (c.includeTop) for (const l of ['dropout_1', 'reshape_1', 'lambda_1']) assert.ok(info.layers.includes(l), `${name} lists ${l}`);
    // 57 units (conv + batch norm: 4 tensors each), plus the logits' kernel and bias
    assert.equal(weights.size, 57 * 4 + (c.includeTop ? 2 : 0), name);
    assert.ok(weights.has('Conv3d_1a_7x7_bn/moving_variance:0'));
  }
  const saved = await openKerasH5(join(dir, caseOf('rgb_top_model_save').weights));
  saved.close();
  assert.equal(saved.info.layout, 'model.save');
  assert.equal(saved.info.kerasVersion, '2.2.4');
  assert.deepEqual(saved.info.layers, caseOf('rgb_top_odd_nonsquare').layerNames);
  assert.equal(saved.weights.size, 57 * 4 + 2, 'optimizer_weights are not model weights');
});

test('Keras weight names: Keras 2, uniquified scopes, Keras 1.2 suffixes, nested models; unknown kinds keep their name', () => {
  const n = canonicalWeightName;
  assert.equal(n('Conv3d_1a_7x7_conv', 'Conv3d_1a_7x7_conv/kernel:0'), 'Conv3d_1a_7x7_conv/kernel:0');
  assert.equal(n('Conv3d_1a_7x7_conv', 'Conv3d_1a_7x7_conv_1/kernel:0'), 'Conv3d_1a_7x7_conv/kernel:0');
  assert.equal(n('Conv3d_1a_7x7_bn', 'Conv3d_1a_7x7_bn_running_std:0'), 'Conv3d_1a_7x7_bn/moving_variance:0');
  assert.equal(n('Conv3d_1a_7x7_conv', 'Conv3d_1a_7x7_conv_W_1:0'), 'Conv3d_1a_7x7_conv/kernel:0');
  assert.equal(n('Conv3d_6a_1x1_conv', 'Conv3d_6a_1x1_conv_b:0'), 'Conv3d_6a_1x1_conv/bias:0');
  assert.equal(n('i3d_inception', 'Conv3d_2b_1x1_bn/beta:0'), 'Conv3d_2b_1x1_bn/beta:0');
  assert.equal(n('Conv3d_2b_1x1_bn', 'Conv3d_2b_1x1_bn/renorm_mean:0'), 'Conv3d_2b_1x1_bn/renorm_mean:0');
  assert.equal(n('Conv3d_2b_1x1_bn', 'other_W:0'), 'other_W:0');
});

test('byte-string and unicode names, chunked lists, empty weight_names of any dtype, Keras 1.2: the same weights, the reference logits', async () => {
  const variants = ['small_bytes', 'small_unicode', 'small_chunked', 'small_empty_dtypes', 'small_keras1'];
  const results = [];
  for (const v of variants) {
    const r = await run(caseOf(v));
    assert.ok(r.features <= 1e-4 && r.logits <= 1e-4, `${v}: features ${r.features}, logits ${r.logits}`);
    results.push(r);
  }
  for (let i = 1; i < results.length; i++) assert.deepEqual(results[i]!.state, results[0]!.state, `${variants[i]} = small_bytes`);
});

test('a layer carrying weights we do not know is refused with its name, before anything is copied', async () => {
  const model = new I3D({ width: 1 / 16, classes: 5 });
  try {
    const before = model.stateTensors().get('Conv3d_1a_7x7.conv.weight')!.toArray();
    await assert.rejects(loadKerasH5(model, join(dir, 'small_unknown_layer.h5')), (e: Error) => {
      assert.match(e.message, /small_unknown_layer\.h5 does not fit this model \(2 mismatches\)/);
      assert.match(e.message, /unexpected 'predictions\/kernel:0' \(shape \[5, 5\]\) in layer 'predictions'/);
      assert.match(e.message, /unexpected 'predictions\/bias:0' \(shape \[5\]\) in layer 'predictions'/);
      return true;
    });
    await assert.rejects(
      loadKerasH5(model, join(dir, 'small_unknown_kind.h5')),
      /small_unknown_kind\.h5 does not fit this model \(1 mismatches\):\n {2}- unexpected 'Conv3d_2b_1x1_bn\/gamma:0' \(shape \[4\]\) in layer 'Conv3d_2b_1x1_bn'/,
    );
    await assert.rejects(
      loadKerasH5(model, join(dir, 'small_missing_group.h5')),
      /small_missing_group\.h5: layer 'Mixed_9z' is listed in 'layer_names' but has no group/,
    );
    assert.deepEqual(model.stateTensors().get('Conv3d_1a_7x7.conv.weight')!.toArray(), before, 'the model is unchanged');
  } finally {
    model.dispose();
  }
});

test('i3d predict --weights with a model.save file (unicode names, optimizer weights) gives the reference logits', async () => {
  const c = caseOf('rgb_top_model_save');
  const npy = join(tmp, 'clip.npy');
  writeNpy(npy, clipOf(c), c.shape);
  const r = await runCli(['predict', npy, '--weights', join(dir, c.weights), '--json'], { env: { I3D_OFFLINE: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const logits = (JSON.parse(r.stdout) as { logits: number[] }).logits;
  assert.ok(relErr(logits, c.logits!) <= 1e-4, `relative error ${relErr(logits, c.logits!)}`);
});

test('Keras files as the backbone of i3d train: the top is dropped, the features are the reference ones', async () => {
  // In process: the backbone that `train --backbone <file>` builds.
  for (const name of ['rgb_top_model_save', 'flow_notop_keras1']) {
    const c = caseOf(name);
    const backbone = await loadBackbone(join(dir, c.weights), c.stream, 1);
    try {
      assert.equal(backbone.includeTop, false);
      const err = scope(() =>
        noGrad(() =>
          relErr(
            backbone
              .eval()
              .forward(tensor(clipOf(c), c.shape))
              .features.toArray(),
            c.features,
          ),
        ),
      );
      assert.ok(err <= 1e-4, `${name}: features relative error ${err}`);
    } finally {
      backbone.dispose();
    }
  }
  // The command: a frozen backbone from the Keras file; the feature cache records that backbone's digest.
  const data = join(tmp, 'train');
  await writeSyntheticActions(data, { perClass: 2, seed: 5, frames: 16 });
  const file = join(dir, caseOf('rgb_top_odd_nonsquare').weights);
  const args = ['train', '--data', data, '--out', join(tmp, 'run'), '--backbone', file, '--freeze', '--epochs', '1'];
  const small = ['--segments', '2', '--frames', '8', '--size', '32', '--resize', '40', '--lstm', '16,8', '--batch', '4', '--workers', '1'];
  const r = await runCli([...args, ...small, '--json'], { env: { I3D_OFFLINE: '1', I3D_CACHE_DIR: join(tmp, 'cache') } });
  assert.equal(r.status, 0, r.stderr);
  const cache = join(tmp, 'run/features');
  const key = readdirSync(cache).find((k) => existsSync(join(cache, k, 'manifest.json')));
  assert.ok(key, 'a feature cache with a manifest');
  const manifest = JSON.parse(readFileSync(join(cache, key, 'manifest.json'), 'utf8')) as {
    parameters: { backbone: string; backboneSpec: string };
  };
  const expected = await loadBackbone(file, 'rgb', 1);
  try {
    assert.equal(manifest.parameters.backbone, backboneDigest(expected));
    assert.equal(manifest.parameters.backboneSpec, file);
  } finally {
    expected.dispose();
  }
});
