// Model cards and the one config.json format: I3D folders (version 2, and version 1 from older releases), trained
// I3D-LSTM checkpoints (config.json, and older ones described only by state.json).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { I3D, I3D_VARIANTS } from '../src/models/i3d.js';
import { I3DLSTM } from '../src/models/i3d-lstm.js';
import { scope } from '../src/tensor/context.js';
import { tensor } from '../src/tensor/tensor.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { loadTrainedModel, readTrainedDescription, type I3DLSTMDescription } from '../src/train/trained-model.js';
import { MODEL_CARDS, officialPreprocessing } from '../src/weights/cards.js';
import { loadModel, readConfig, saveModel } from '../src/weights/model-folder.js';
import { readModelConfig } from '../src/weights/model-config.js';
import { ZOO } from '../src/weights/zoo.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'model-config-'));

test('every official variant has a card with and without its top; the zoo is made from the cards', () => {
  assert.equal(MODEL_CARDS.size, 2 * Object.keys(I3D_VARIANTS).length);
  for (const [variant, v] of Object.entries(I3D_VARIANTS)) {
    const top = MODEL_CARDS.get(variant)!;
    const bare = MODEL_CARDS.get(`${variant}_no_top`)!;
    assert.equal(top.stream, v.stream);
    assert.deepEqual([top.classes, top.labels, bare.classes, bare.labels], [400, 'kinetics400', null, null]);
    assert.deepEqual(top.preprocessing, officialPreprocessing(v.stream));
    assert.match(top.weights.url, new RegExp(`/${top.weights.fileName}$`));
    for (const c of [top, bare]) assert.equal(ZOO.get(c.name)!.url, c.weights.url);
  }
  assert.equal(officialPreprocessing('flow').flowClip, 20);
});

test('an I3D folder is written in config version 2; a version 1 folder from an older release still loads', () => {
  const dir = tmp();
  try {
    const model = new I3D({ classes: 3, width: 0.125 }).eval();
    const saved = saveModel(model, dir, { labels: ['a', 'b', 'c'] });
    assert.equal(saved.version, 2);
    assert.deepEqual(readConfig(dir), saved);
    const v1 = { ...saved, version: 1 };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(v1));
    const { model: back, config } = loadModel(dir);
    assert.equal(config.version, 1);
    scope(() => {
      const x = tensor(
        new Float32Array(3 * 8 * 32 * 32).map((_, i) => Math.sin(i)),
        [1, 8, 32, 32, 3],
      );
      assert.deepEqual(back.forward(x).logits!.data(), model.forward(x).logits!.data());
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...saved, version: 3 }));
    assert.throws(() => readConfig(dir), /config\.json: 'version' 3 is not supported \(this is version 2\)/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...saved, labels: ['a'] }));
    assert.throws(() => readConfig(dir), /config\.json: 'labels' must be one label per class/);
    model.dispose();
    back.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a trained I3D-LSTM checkpoint has a config.json; one without (older) is described by its state.json', () => {
  const dir = tmp();
  const description: I3DLSTMDescription = {
    kind: 'i3d-lstm',
    stream: 'rgb',
    width: 0.0625,
    lstm: [8, 4],
    dropout: 0.5,
    classes: 2,
    labels: ['left', 'right'],
    clip: { segments: 2, frames: 8, size: 32, resize: 40, fps: 10 },
  };
  try {
    const model = new I3DLSTM({ classes: 2, width: 0.0625, lstm: [8, 4] });
    const trainer = { epoch: 1, bestValAccuracy: 0.5, bestEpoch: 1, history: [] };
    saveCheckpoint(join(dir, 'best'), model, null, { format: 'i3d-checkpoint', version: 1, trainer, params: {}, model: description });
    const config = readModelConfig(join(dir, 'best'));
    assert.equal(config?.kind, 'i3d-lstm');
    assert.deepEqual(config?.preprocessing, { ...officialPreprocessing('rgb'), fps: 10, resizeShorterSide: 40, crop: 32 });
    assert.deepEqual(readTrainedDescription(dir), description);
    assert.throws(() => readConfig(join(dir, 'best')), /a trained I3D-LSTM, not an I3D/);
    const stateDescription = JSON.parse(readFileSync(join(dir, 'best', 'state.json'), 'utf8')).model;
    rmSync(join(dir, 'best', 'config.json'));
    assert.deepEqual(readTrainedDescription(dir), stateDescription);
    const loaded = loadTrainedModel(dir);
    assert.deepEqual(loaded.description, description);
    loaded.model.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
