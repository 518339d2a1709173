// Loading real, loadable TensorFlow checkpoints: test/fixtures/make_tf_checkpoint.py writes the I3D parity
// fixtures' Keras weights (RGB and flow) as checkpoints laid out like deepmind/kinetics-i3d's (DeepMind's names,
// SSTable index, data file with masked CRC-32Cs; ~50 MB each, in a temporary folder, never committed). Loading
// them must give exactly the Keras weights and logits, `i3d convert` must accept them, and damaged files must be
// refused naming the file (and the tensor), leaving the model unchanged.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { noGrad, scope, tensor, type Tensor } from '../src/index.js';
import { I3D } from '../src/models/i3d.js';
import { WeightsError } from '../src/weights/errors.js';
import { loadKerasH5 } from '../src/weights/keras-h5.js';
import { loadModel } from '../src/weights/model-folder.js';
import { checkpointToOurs, loadTfCheckpoint, readCheckpointIndex, type CheckpointEntry } from '../src/weights/tf-checkpoint.js';
import { type I3DCase, i3dParityFixtures, relErr, ROOT, SHARED } from './helpers.js';

const STREAMS = [
  { stream: 'rgb', fixture: 'rgb_top_odd_nonsquare', real: 'rgb_imagenet' },
  { stream: 'flow', fixture: 'flow_top_224', real: 'flow_imagenet' },
] as const;
type Stream = (typeof STREAMS)[number]['stream'];

let dir = '';
let cases: I3DCase[] = [];
let work = '';
/** The RGB Keras weights' logits on the RGB case's clip, once computed. */
let rgbKerasLogits: Float32Array | null = null;

const prefix = (stream: Stream) => join(work, stream, 'model.ckpt');
const caseOf = (stream: Stream) => cases.find((c) => c.name === STREAMS.find((s) => s.stream === stream)!.fixture)!;

before(() => {
  ({ dir, cases } = i3dParityFixtures());
  work = mkdtempSync(join(tmpdir(), 'i3d-tf-ckpt-'));
  for (const { stream, fixture } of STREAMS) {
    const r = spawnSync(
      '/usr/bin/python3',
      [join(ROOT, 'test/fixtures/make_tf_checkpoint.py'), join(dir, `${fixture}.h5`), join(work, stream)],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    assert.equal(r.status, 0, `make_tf_checkpoint.py failed (it needs python3-h5py and python3-numpy): ${r.stderr}`);
    assert.match(r.stdout, /wrote 230 tensors/);
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

function readClip(c: I3DCase): Tensor {
  return tensor(new Float32Array(readFileSync(join(dir, c.clip)).buffer.slice(0)), c.shape);
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(bytesOf(actual).equals(bytesOf(expected)), `${what}: not bit-identical`);
}

/**
 * Logits of `model` on the stream's parity clip (a copy that outlives the tensors). `small`: its first 8 frames,
 * 64x64 pixels from the middle (a full forward pass of the 224x224 flow clip takes seconds).
 */
function logitsOf(model: I3D, stream: Stream, small = false): Float32Array {
  return scope(() =>
    noGrad(() => {
      const c = caseOf(stream);
      let clip = readClip(c);
      if (small)
        clip = clip
          .narrow(1, 0, 8)
          .narrow(2, (c.shape[2]! - 64) >> 1, 64)
          .narrow(3, (c.shape[3]! - 64) >> 1, 64)
          .contiguous();
      return Float32Array.from(model.forward(clip).logits!.data() as Float32Array);
    }),
  );
}

/** A copy of every state tensor's bytes. */
function snapshot(model: I3D): Map<string, Buffer> {
  return new Map([...model.stateTensors()].map(([name, t]) => [name, Buffer.from(bytesOf(t.data() as Float32Array))]));
}

/** The logits of the RGB Keras weights on the RGB clip: those the first test recorded, or computed afresh. */
async function rgbKerasLogitsOf(): Promise<Float32Array> {
  if (rgbKerasLogits) return rgbKerasLogits;
  const keras = new I3D().eval();
  try {
    await loadKerasH5(keras, join(dir, caseOf('rgb').weights));
    return (rgbKerasLogits = logitsOf(keras, 'rgb'));
  } finally {
    keras.dispose();
  }
}

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  return [...out, n];
}

for (const { stream, fixture, real: realName } of STREAMS) {
  test(`${stream}: loadTfCheckpoint gives exactly the Keras weights and bit-identical logits (${fixture})`, async () => {
    const keras = new I3D({ stream }).eval();
    const ckpt = new I3D({ stream }).eval();
    try {
      await loadKerasH5(keras, join(dir, `${fixture}.h5`));
      loadTfCheckpoint(ckpt, prefix(stream));
      const want = snapshot(keras);
      const got = snapshot(ckpt);
      assert.equal(got.size, 230);
      for (const [name, bytes] of want) assert.ok(got.get(name)?.equals(bytes), `${name}: not bit-identical to the Keras weights`);
      // Bit-identical logits: on the case's clip for RGB; on a 8x64x64 part of it for flow, whose 9x224x224 clip then
      // runs once only, through the checkpoint's model, against the reference.
      const small = stream === 'flow';
      const a = logitsOf(keras, stream, small);
      if (!small) rgbKerasLogits = a;
      const b = logitsOf(ckpt, stream, small);
      assertSameBits(b, a, 'logits');
      const err = relErr(small ? logitsOf(ckpt, stream) : b, caseOf(stream).logits!);
      console.log(
        `${stream}: checkpoint logits bit-identical to Keras' (${b.length} values${small ? ', 8x64x64 clip' : ''}), ` +
          `${err.toExponential(2)} from the PyTorch reference`,
      );
      assert.ok(err <= 1e-4, `relative error ${err} to the reference logits`);
    } finally {
      keras.dispose();
      ckpt.dispose();
    }
  });

  test(`${stream}: the written index lists the same tensors as DeepMind's ${realName} index`, () => {
    const realIndex = join(SHARED, 'data/kinetics-i3d/checkpoints', realName, 'model.ckpt.index');
    const real = readCheckpointIndex(realIndex);
    const ours = readCheckpointIndex(`${prefix(stream)}.index`);
    assert.equal(ours.shards, 1);
    // Same names in the same order, dtypes, shapes, shards, offsets and sizes; only the checksums (the values) differ.
    const withoutCrc = (entries: Iterable<CheckpointEntry>) =>
      [...entries].map(({ name, dtype, shape, shard, offset, size }) => ({ name, dtype, shape, shard, offset, size }));
    assert.deepEqual(withoutCrc(ours.entries.values()), withoutCrc(real.entries.values()));
    assert.equal(ours.entries.size, 230);
    const mapped = new Set([...ours.entries.keys()].map(checkpointToOurs));
    assert.equal(mapped.size, 230);
    assert.ok(!mapped.has(null));
    assert.ok(ours.entries.has(`${stream === 'rgb' ? 'RGB' : 'Flow'}/inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w`));
    // The encoding has the real file's length byte for byte (crc fields are fixed32), and the tensors tile the data file.
    assert.equal(statSync(`${prefix(stream)}.index`).size, statSync(realIndex).size);
    const end = Math.max(...[...ours.entries.values()].map((e) => e.offset + e.size));
    assert.equal(statSync(`${prefix(stream)}.data-00000-of-00001`).size, end);
  });
}

test('i3d convert <checkpoint prefix> infers the architecture, and the folder gives the same logits', async () => {
  const out = join(work, 'converted');
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
  let r = cli('convert', prefix('rgb'), join(out, 'rgb'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(tf-checkpoint\) -> .*: I3D rgb, 400 classes\n$/);
  r = cli('convert', `${prefix('flow')}.index`, join(out, 'flow'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(tf-checkpoint\) -> .*: I3D flow, 400 classes\n$/);

  const { model, config } = loadModel(join(out, 'rgb'));
  try {
    assert.equal(config.stream, 'rgb');
    const expected = await rgbKerasLogitsOf();
    assertSameBits(logitsOf(model, 'rgb'), expected, 'logits of the converted folder');
  } finally {
    model.dispose();
  }
  const flow = loadModel(join(out, 'flow'));
  const direct = new I3D({ stream: 'flow' });
  try {
    loadTfCheckpoint(direct, prefix('flow'));
    const want = snapshot(direct);
    for (const [name, bytes] of snapshot(flow.model)) assert.ok(want.get(name)?.equals(bytes), `flow folder: ${name}`);
  } finally {
    flow.model.dispose();
    direct.dispose();
  }
});

test('a flipped byte in a real data file fails the CRC-32C of its tensor, a truncated file and a size that disagrees with the shape are refused', () => {
  const damaged = join(work, 'damaged');
  mkdirSync(damaged);
  const ckpt = join(damaged, 'model.ckpt');
  const data = `${ckpt}.data-00000-of-00001`;
  copyFileSync(`${prefix('rgb')}.index`, `${ckpt}.index`);
  copyFileSync(`${prefix('rgb')}.data-00000-of-00001`, data);
  const size = statSync(data).size;
  const at = Math.floor(size / 2);
  const hit = [...readCheckpointIndex(`${ckpt}.index`).entries.values()].find((e) => e.offset <= at && at < e.offset + e.size);
  assert.ok(hit, `a tensor holds byte ${at}`);
  const hitOurs = checkpointToOurs(hit.name)!;

  const flip = () => {
    const fd = openSync(data, 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, at);
      b[0]! ^= 0xff;
      writeSync(fd, b, 0, 1, at);
    } finally {
      closeSync(fd);
    }
  };

  const model = new I3D().eval();
  try {
    const initial = snapshot(model);
    const unchanged = () => {
      for (const [name, bytes] of snapshot(model)) assert.ok(initial.get(name)?.equals(bytes), `${name} was changed by a failed load`);
    };
    flip();
    assert.throws(
      () => loadTfCheckpoint(model, ckpt),
      (e: Error) => {
        assert.ok(e instanceof WeightsError);
        assert.equal(e.message, `${data}: '${hit.name}' fails its CRC-32C check (corrupt data file)`);
        return true;
      },
    );
    unchanged();
    flip(); // restored: the same file loads again
    loadTfCheckpoint(model, ckpt);
    assert.ok(!snapshot(model).get(hitOurs)!.equals(initial.get(hitOurs)!), `${hitOurs} was loaded`);

    const loaded = snapshot(model);
    truncateSync(data, at);
    assert.throws(
      () => loadTfCheckpoint(model, ckpt),
      (e: Error) => {
        assert.ok(e instanceof WeightsError);
        assert.equal(e.message, `${data}: ${at} bytes, the index needs at least ${size} (truncated or another checkpoint)`);
        return true;
      },
    );
    for (const [name, bytes] of snapshot(model)) assert.ok(loaded.get(name)?.equals(bytes), `${name} was changed by a failed load`);

    // An index whose byte size for the last tensor disagrees with its shape is refused before anything is read:
    // its BundleEntryProto's size field (tag 0x28, then a varint, then the crc32c's tag 0x35) is patched in place.
    const index = readFileSync(`${ckpt}.index`);
    const last = [...readCheckpointIndex(`${ckpt}.index`).entries.values()].at(-1)!;
    const field = Buffer.from([0x28, ...varint(last.size), 0x35]);
    const patched = Buffer.from([0x28, ...varint(last.size - 4), 0x35]);
    assert.equal(patched.length, field.length);
    const pos = index.lastIndexOf(field);
    assert.ok(pos > 0);
    patched.copy(index, pos);
    writeFileSync(`${ckpt}.index`, index);
    assert.equal(readCheckpointIndex(`${ckpt}.index`).entries.get(last.name)?.size, last.size - 4);
    assert.throws(
      () => loadTfCheckpoint(model, ckpt),
      (e: Error) => {
        assert.ok(e instanceof WeightsError);
        assert.match(e.message, /does not fit this model \(1 mismatches\)/);
        assert.ok(e.message.includes(`'${last.name}' has ${last.size - 4} bytes, expected ${last.size} (float32)`), e.message);
        return true;
      },
    );
  } finally {
    model.dispose();
  }
});
