// The layouts TensorFlow 1.x's Saver writes beyond the single-shard official checkpoints: sharded data files
// (each entry with its shard id and its offset in that file), and the ones we refuse with a clear message
// (big-endian, partitioned variables, a shard id past the last). Small (width 1/16) checkpoints written by
// test/fixtures/make_tf_checkpoint.py from the small Keras fixture of make_i3d.py.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { noGrad, scope, tensor } from '../src/index.js';
import { I3D } from '../src/models/i3d.js';
import { loadTfCheckpoint, readCheckpointIndex } from '../src/weights/tf-checkpoint.js';
import { type I3DCase, i3dParityFixtures, relErr, ROOT } from './helpers.js';

let dir = '';
let small: I3DCase;
let work = '';

function checkpoint(name: string, ...opts: string[]): string {
  const out = join(work, name);
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'test/fixtures/make_tf_checkpoint.py'), join(dir, small.weights), out, ...opts], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `make_tf_checkpoint.py failed: ${r.stderr}`);
  return join(out, 'model.ckpt');
}

before(() => {
  let cases: I3DCase[];
  ({ dir, cases } = i3dParityFixtures());
  small = cases.find((c) => c.name === 'small_bytes')!;
  work = mkdtempSync(join(tmpdir(), 'i3d-ckpt-layout-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const smallModel = () => new I3D({ width: small.width, classes: small.classes }).eval();

test('a checkpoint sharded over 3 data files loads, each tensor from its shard and offset, and gives the reference logits', () => {
  const prefix = checkpoint('sharded', '--shards', '3');
  for (let k = 0; k < 3; k++) assert.ok(existsSync(`${prefix}.data-0000${k}-of-00003`), `shard ${k}`);
  const index = readCheckpointIndex(`${prefix}.index`);
  assert.equal(index.shards, 3);
  assert.deepEqual(new Set([...index.entries.values()].map((e) => e.shard)), new Set([0, 1, 2]));
  assert.ok(
    [...index.entries.values()].some((e) => e.shard > 0 && e.offset === 0),
    'offsets start again in each shard',
  );
  const m = smallModel();
  try {
    loadTfCheckpoint(m, prefix);
    const err = scope(() =>
      noGrad(() => {
        const clip = tensor(new Float32Array(readFileSync(join(dir, small.clip)).buffer.slice(0)), small.shape);
        return relErr(m.forward(clip).logits!.toArray(), small.logits!);
      }),
    );
    assert.ok(err <= 1e-4, `logits relative error ${err}`);
  } finally {
    m.dispose();
  }
  // a missing shard is named
  rmSync(`${prefix}.data-00001-of-00003`);
  const m2 = smallModel();
  assert.throws(() => loadTfCheckpoint(m2, prefix), /model\.ckpt\.data-00001-of-00003: the checkpoint's data file is missing/);
  m2.dispose();
});

test('big-endian checkpoints, partitioned variables and shard ids past the last are refused, naming the file and tensor', () => {
  const m = smallModel();
  try {
    const before = m.stateTensors().get('Conv3d_1a_7x7.conv.weight')!.toArray();
    assert.throws(
      () => loadTfCheckpoint(m, checkpoint('big', '--variant', 'big-endian')),
      /big[/]model\.ckpt\.index: a big-endian checkpoint/,
    );
    assert.throws(
      () => loadTfCheckpoint(m, checkpoint('sliced', '--variant', 'sliced')),
      /sliced[/]model\.ckpt does not fit this model \(1 mismatches\):\n {2}- 'RGB\/inception_i3d\/Logits\/Conv3d_0c_1x1\/conv_3d\/b' is a partitioned variable \(2 slices\)/,
    );
    assert.throws(
      () => loadTfCheckpoint(m, checkpoint('badshard', '--variant', 'bad-shard')),
      /'RGB\/inception_i3d\/Logits\/Conv3d_0c_1x1\/conv_3d\/b' is in shard 1, but the checkpoint has 1 shard\(s\)/,
    );
    assert.deepEqual(m.stateTensors().get('Conv3d_1a_7x7.conv.weight')!.toArray(), before, 'the model is unchanged');
  } finally {
    m.dispose();
  }
});
