// The training loop on generated clips with a tiny I3D-LSTM: the loss falls, the learning-rate schedule, best and
// last checkpoints, exact resume after an interruption, a frozen backbone, and a stop on a non-finite loss.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  fit,
  I3DLSTM,
  learningRate,
  manualSeed,
  NonFiniteLossError,
  readCheckpointMeta,
  type DataSplit,
  type FitOptions,
  type LabelledBatch,
} from '../src/index.js';
import { movingBars } from './support/moving-bars.js';

const SEGMENTS = 2;
const FRAMES = 8;
const SIZE = 32;

/** Moving-bar clips as I3D-LSTM input [N, S, T, H, W, 3] (two segments of 8 frames), in batches. */
function split(count: number, seed: number, batchSize: number, poison?: { epoch: number; batch: number }): DataSplit {
  const { clips, labels } = movingBars({ count, frames: SEGMENTS * FRAMES, size: SIZE, seed });
  const data = clips.data() as Float32Array;
  const y = Array.from(labels.data() as BigInt64Array, Number);
  clips.dispose();
  labels.dispose();
  const per = SEGMENTS * FRAMES * SIZE * SIZE * 3;
  return {
    size: count,
    batchSize,
    async *batches(epoch: number): AsyncIterable<LabelledBatch> {
      // A fixed, epoch-dependent order: the same batches on every run of an epoch.
      const order = y.map((_, i) => i).sort((a, b) => ((a * 7919 + epoch * 104729) % count) - ((b * 7919 + epoch * 104729) % count));
      for (let s = 0, n = 0; s < count; s += batchSize, n++) {
        const idx = order.slice(s, s + batchSize);
        const out = new Float32Array(idx.length * per);
        idx.forEach((i, k) => out.set(data.subarray(i * per, (i + 1) * per), k * per));
        if (poison && poison.epoch === epoch && poison.batch === n + 1) out[0] = Number.NaN;
        yield { clips: out, shape: [idx.length, SEGMENTS, FRAMES, SIZE, SIZE, 3], labels: idx.map((i) => y[i]!) };
      }
    },
  };
}

function tinyModel(o: { freeze?: boolean } = {}): I3DLSTM {
  manualSeed(7);
  return new I3DLSTM({ classes: 2, width: 1 / 16, lstm: [16, 8], dropout: 0.1, freezeBackbone: o.freeze ?? false });
}

function options(out: string, model: I3DLSTM, over: Partial<FitOptions> = {}): FitOptions {
  return {
    model,
    classes: 2,
    train: split(16, 1, 4),
    validation: split(8, 2, 4),
    epochs: 4,
    schedule: { rates: [0.2, 0.1, 0.05], boundaries: [2, 3] },
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 3,
    out,
    meta: { params: { test: true }, model: { kind: 'i3d-lstm' } },
    ...over,
  };
}

const stateOf = (m: I3DLSTM) => new Map([...m.stateTensors()].map(([k, t]) => [k, Array.from(t.data() as Float32Array)]));
const tmp = () => mkdtempSync(join(tmpdir(), 'i3d-fit-'));

test('the learning rate follows the three phases at epochs 1, 10, 11, 15 and 16', () => {
  const s = { rates: [0.1, 0.01, 0.001], boundaries: [10, 15] } as const;
  assert.deepEqual(
    [1, 10, 11, 15, 16, 40].map((e) => learningRate(s, e)),
    [0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
  );
  assert.throws(() => learningRate(s, 0), /epoch must be an integer >= 1/);
});

test('the loss falls, each epoch logs and saves last, and best changes only when validation accuracy improves', async () => {
  const out = tmp();
  const model = tinyModel();
  const lrs: number[] = [];
  const bestEpochs: number[] = [];
  try {
    const r = await fit(
      options(out, model, {
        epochs: 8,
        onBatch: (b) => lrs.push(b.lr),
        onEpoch: () => bestEpochs.push(readCheckpointMeta<unknown, unknown>(join(out, 'best')).trainer.epoch),
      }),
    );
    const h = r.history;
    assert.equal(h.length, 8);
    assert.ok(h[7]!.loss < h[0]!.loss * 0.8, `training loss ${h[0]!.loss} -> ${h[7]!.loss}`);
    assert.deepEqual([...new Set(lrs)], [0.2, 0.1, 0.05], 'the rates of the three phases, in order');
    assert.deepEqual(
      h.map((e) => e.lr),
      [0.2, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05],
    );
    // best/ holds the epoch of the best validation accuracy so far, and moves only on a strict improvement.
    let best = -1;
    let bestEpoch = 0;
    h.forEach((e, i) => {
      if (e.valAccuracy > best) [best, bestEpoch] = [e.valAccuracy, e.epoch];
      assert.equal(bestEpochs[i], bestEpoch, `after epoch ${e.epoch}`);
    });
    assert.equal(r.bestEpoch, bestEpoch);
    assert.equal(readCheckpointMeta<unknown, unknown>(join(out, 'last')).trainer.epoch, 8);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.equal(log.filter((l) => l.type === 'epoch').length, 8);
    // Each epoch says where its time went; the parts add up to at most the whole (saving checkpoints is the rest).
    for (const e of r.history) {
      const t = e.time!;
      for (const part of [t.dataSec, t.stepSec, t.validationSec]) assert.ok(part >= 0 && Number.isFinite(part));
      assert.ok(t.stepSec > 0, 'the steps take time');
      assert.ok(t.dataSec + t.stepSec + t.validationSec <= e.seconds + 1e-6, JSON.stringify(e));
    }
    assert.ok(existsSync(join(out, 'last/optimizer.safetensors')));
  } finally {
    model.dispose();
    rmSync(out, { recursive: true });
  }
});

test('a run interrupted mid-epoch and resumed ends with the same weights as an uninterrupted run', async () => {
  const a = tmp();
  const b = tmp();
  const straight = tinyModel();
  const resumed = tinyModel();
  try {
    await fit(options(a, straight));
    // Interrupt during epoch 3 (as a kill would: nothing of that epoch is saved), then resume from last/.
    await assert.rejects(
      fit(
        options(b, resumed, {
          onBatch: (x) => {
            if (x.epoch === 3 && x.batch === 2) throw new Error('killed');
          },
        }),
      ),
      /killed/,
    );
    assert.equal(readCheckpointMeta<unknown, unknown>(join(b, 'last')).trainer.epoch, 2);
    resumed.dispose();
    const fresh = tinyModel(); // a new process would start from new random weights
    try {
      const r = await fit(options(b, fresh, { resume: true }));
      assert.equal(r.resumedFrom, 2);
      assert.equal(r.history.length, 4);
      const s1 = stateOf(straight);
      const s2 = stateOf(fresh);
      for (const [k, v] of s1) assert.deepEqual(s2.get(k), v, `${k} differs after resume`);
    } finally {
      fresh.dispose();
    }
  } finally {
    straight.dispose();
    rmSync(a, { recursive: true });
    rmSync(b, { recursive: true });
  }
});

test('a frozen backbone stays bit-identical (weights and batch-norm statistics) while the head learns', async () => {
  const out = tmp();
  const model = tinyModel({ freeze: true });
  try {
    const before = stateOf(model);
    const r = await fit(options(out, model, { epochs: 3 }));
    const after = stateOf(model);
    let headChanged = 0;
    for (const [k, v] of before) {
      if (k.startsWith('backbone.')) assert.deepEqual(after.get(k), v, `${k} changed`);
      else if (after.get(k)!.some((x, i) => x !== v[i])) headChanged++;
    }
    assert.ok(headChanged >= 6, `${headChanged} head tensors changed`);
    assert.ok(r.history[2]!.loss < r.history[0]!.loss, 'the head learns');
    assert.equal(model.trainableParameters().length, model.parameters().length - model.backbone.parameters().length);
  } finally {
    model.dispose();
    rmSync(out, { recursive: true });
  }
});

test('a NaN in the loss stops training with a clear error and leaves the last good checkpoints intact', async () => {
  const out = tmp();
  const model = tinyModel();
  try {
    await fit(options(out, model, { epochs: 2 }));
    const last = readFileSync(join(out, 'last/model.safetensors'));
    const best = readFileSync(join(out, 'best/model.safetensors'));
    const model2 = tinyModel();
    try {
      await assert.rejects(
        fit(options(out, model2, { resume: true, train: split(16, 1, 4, { epoch: 3, batch: 2 }) })),
        (e: unknown) =>
          e instanceof NonFiniteLossError && /loss became NaN at epoch 3, batch 2; the checkpoints of epoch 2 are kept/.test(e.message),
      );
    } finally {
      model2.dispose();
    }
    assert.deepEqual(readFileSync(join(out, 'last/model.safetensors')), last);
    assert.deepEqual(readFileSync(join(out, 'best/model.safetensors')), best);
    assert.equal(readCheckpointMeta<unknown, unknown>(join(out, 'last')).trainer.epoch, 2);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; reason?: string });
    assert.equal(log.at(-1)!.type, 'stopped');
    assert.equal(log.at(-1)!.reason, 'non-finite loss');
  } finally {
    model.dispose();
    rmSync(out, { recursive: true });
  }
});
