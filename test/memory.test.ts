// 2,000 training steps of a small conv3d + LSTM net: memory stays flat after warm-up, the loss falls.
// Every step makes ~150 native tensors, all freed by scopes; a leak per op or per step shows here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
// Only the modules the loop needs (not the package index, which loads the report's plotting library and more):
// a small heap keeps its own growing and shrinking out of the measurement.
import { liveTensors } from '../src/tensor/tensor.js';
import { manualSeed } from '../src/tensor/runtime.js';
import { SGD } from '../src/optim/sgd.js';
import { movingBars } from './support/moving-bars.js';
import { TinyConvLstm } from './support/tiny-conv-lstm.js';
import { trainOnRandomBatch } from './support/train-step.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * After a full GC: resident memory outside V8's heap (libtorch, the addon, the allocator) and live JS objects.
 * V8's heap is left out by its resident (physical) size: it grows its young generation in steps up to its own
 * bound (seen here: 9 -> 24 MB over 8,000 steps while live JS objects stay at ~4 MB) and shrinks it again, which
 * is capacity, not a leak.
 */
function memory(): { nativeMb: number; jsMb: number; rssMb: number } {
  gc();
  const m = process.memoryUsage();
  const heapResident = getHeapStatistics().total_physical_size;
  return { nativeMb: (m.rss - heapResident) / 2 ** 20, jsMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20 };
}

test('2,000 steps: native memory and live JS objects flat after warm-up, no tensor leaked, loss falls', () => {
  manualSeed(11);
  const before = liveTensors();
  const data = movingBars({ count: 64, seed: 3 });
  data.clips.keep();
  data.labels.keep();
  const model = new TinyConvLstm({ classes: 2 });
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const losses: number[] = [];
  let warm = memory();
  for (let s = 0; s < 2000; s++) {
    if (s === 500) warm = memory();
    losses.push(trainOnRandomBatch(model, opt, data.clips, data.labels, 8));
  }
  const end = memory();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  opt.dispose();
  model.dispose();
  data.clips.dispose();
  data.labels.dispose();
  const report = `native ${warm.nativeMb.toFixed(1)} -> ${end.nativeMb.toFixed(1)} MB, JS objects ${warm.jsMb.toFixed(1)} -> ${end.jsMb.toFixed(1)} MB, RSS ${warm.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB`;
  console.log(`steps 500 -> 2000: ${report}`);
  assert.equal(liveTensors(), before, 'every tensor freed');
  assert.ok(end.nativeMb - warm.nativeMb < 4, `native memory grew: ${report}`);
  assert.ok(end.jsMb - warm.jsMb < 1, `live JS objects grew: ${report}`);
  assert.ok(
    mean(losses.slice(-100)) < 0.5 * mean(losses.slice(0, 100)),
    `loss ${mean(losses.slice(0, 100))} -> ${mean(losses.slice(-100))}`,
  );
});
