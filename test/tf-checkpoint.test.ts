// The official TensorFlow checkpoints' index files: every tensor listed with dtype and shape and mapped to our
// layer names; a missing, truncated or corrupt data file, or a broken index, gives a clear error.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { I3D } from '../src/models/i3d.js';
import { checkpointShapeFits, checkpointToOurs, loadTfCheckpoint, readCheckpointIndex } from '../src/weights/tf-checkpoint.js';
import { SHARED } from './helpers.js';

const CKPT = join(SHARED, 'data/kinetics-i3d/checkpoints');
const VARIANTS = [
  { dir: 'rgb_imagenet', stream: 'rgb', classes: 400 },
  { dir: 'rgb_scratch', stream: 'rgb', classes: 400 },
  { dir: 'flow_imagenet', stream: 'flow', classes: 400 },
  { dir: 'flow_scratch', stream: 'flow', classes: 400 },
  { dir: 'rgb_scratch_kin600', stream: 'rgb', classes: 600 },
] as const;

for (const { dir, stream, classes } of VARIANTS) {
  test(`${dir}: every tensor of the index is listed and maps one-to-one onto an I3D (${stream}, ${classes} classes)`, () => {
    const index = readCheckpointIndex(join(CKPT, dir, 'model.ckpt.index'));
    assert.equal(index.shards, 1);
    const model = new I3D({ stream, classes });
    try {
      const state = model.stateTensors();
      const mapped = new Map<string, string>();
      for (const e of index.entries.values()) {
        const ours = checkpointToOurs(e.name);
        if (ours === null) {
          assert.match(e.name, /\/Momentum$/, `only optimizer slots are left out, not ${e.name}`);
          continue;
        }
        assert.equal(e.dtype, 'float32', e.name);
        assert.ok(!mapped.has(ours), `${ours} mapped twice`);
        mapped.set(ours, e.name);
        const t = state.get(ours);
        assert.ok(t, `${e.name} -> ${ours} is not a tensor of the model`);
        assert.ok(checkpointShapeFits(e, t.shape), `${e.name} [${e.shape.join(', ')}] does not fit ${ours} [${t.shape.join(', ')}]`);
        assert.equal(e.size, 4 * e.shape.reduce((a, b) => a * b, 1), `${e.name} byte size`);
      }
      assert.deepEqual([...mapped.keys()].sort(), [...state.keys()].sort(), 'every model tensor has exactly one checkpoint tensor');
      assert.equal(mapped.size, 230);
      // DeepMind's Mixed_5b names its branch-2 3x3 'Conv3d_0a_3x3'; it is still the 3x3 of branch 2.
      assert.equal(
        mapped.get('Mixed_5b.Conv3d_5b_2b_3x3.conv.weight')?.replace(/^(RGB|Flow)\/inception_i3d\//, ''),
        'Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w',
      );
      assert.equal(
        mapped.get('Mixed_5c.Conv3d_5c_3b_1x1.conv.weight')?.replace(/^(RGB|Flow)\/inception_i3d\//, ''),
        'Mixed_5c/Branch_3/Conv3d_0b_1x1/conv_3d/w',
      );
      assert.equal(mapped.get('Conv3d_6a_1x1.conv.bias')?.replace(/^(RGB|Flow)\/inception_i3d\//, ''), 'Logits/Conv3d_0c_1x1/conv_3d/b');
    } finally {
      model.dispose();
    }
  });
}

test('the missing data file is named in the error', () => {
  const model = new I3D();
  try {
    assert.throws(
      () => loadTfCheckpoint(model, join(CKPT, 'rgb_imagenet/model.ckpt')),
      /model\.ckpt\.data-00000-of-00001: the checkpoint's data file is missing/,
    );
  } finally {
    model.dispose();
  }
});

test('truncated and corrupt data files are refused and the model is left unchanged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const model = new I3D();
  try {
    copyFileSync(join(CKPT, 'rgb_imagenet/model.ckpt.index'), join(dir, 'model.ckpt.index'));
    const data = join(dir, 'model.ckpt.data-00000-of-00001');
    const need = Math.max(...[...readCheckpointIndex(join(dir, 'model.ckpt.index')).entries.values()].map((e) => e.offset + e.size));
    const before = model.parameters()[0]!.toArray().slice(0, 4);
    writeFileSync(data, '');
    truncateSync(data, need - 1);
    assert.throws(
      () => loadTfCheckpoint(model, join(dir, 'model.ckpt')),
      new RegExp(`${need - 1} bytes, the index needs at least ${need}`),
    );
    truncateSync(data, need); // right size, all zeros: every checksum fails
    assert.throws(() => loadTfCheckpoint(model, join(dir, 'model.ckpt')), /fails its CRC-32C check \(corrupt data file\)/);
    assert.deepEqual(model.parameters()[0]!.toArray().slice(0, 4), before);
    writeFileSync(join(dir, 'bad.index'), 'not a table');
    assert.throws(() => readCheckpointIndex(join(dir, 'bad.index')), /bad\.index: not a readable TensorFlow checkpoint index/);
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint for another stream or class count is refused with the mismatches', () => {
  const model = new I3D({ stream: 'flow' });
  try {
    assert.throws(
      () => loadTfCheckpoint(model, join(CKPT, 'rgb_scratch_kin600/model.ckpt')),
      (e: Error) => {
        assert.match(e.message, /does not fit this model \(3 mismatches\)/);
        assert.match(e.message, /'Conv3d_1a_7x7\/conv_3d\/w' has shape \[7, 7, 7, 3, 64\], expected \[7, 7, 7, 2, 64\]/);
        assert.match(e.message, /'Logits\/Conv3d_0c_1x1\/conv_3d\/w' has shape \[1, 1, 1, 1024, 600\], expected \[1, 1, 1, 1024, 400\]/);
        return true;
      },
    );
  } finally {
    model.dispose();
  }
});
