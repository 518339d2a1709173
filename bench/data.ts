// bench/data: clips/s of decoding + preprocessing (the batch generator with N worker threads) next to the
// model's clips/s (I3D RGB forward, no grad) on the same clip size, and the model fed by the generator: how long
// it waits for data. Also ffmpeg's decode rate on bottle-detection.mp4.
// Usage: node dist/bench/data.js [--frames 16] [--epochs 2] [--workers 0,1,2] [--threads N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchGenerator } from '../src/data/generator.js';
import type { Sample } from '../src/data/dataset.js';
import { getNumThreads, i3d, manualSeed, noGrad, ops, scope, setNumThreads, tensor } from '../src/index.js';
import { countFrames, decodeFrames } from '../src/video/decode.js';
import { ROOT } from './common.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '16' },
    epochs: { type: 'string', default: '2' },
    workers: { type: 'string', default: '0,1,2' },
    threads: { type: 'string' },
  },
});
const T = Number(values.frames);
const epochs = Number(values.epochs);
const workerCounts = values.workers.split(',').map(Number);
if (values.threads) setNumThreads(Number(values.threads));
const VIDEOS = join(ROOT, '../shared/data/videos');
const ASL = ['again', 'bird', 'book', 'brother', 'eat', 'help', 'hungry', 'learn'].map((w) => join(VIDEOS, `asl_${w}.mkv`));
const samples: Sample[] = ASL.map((path, i) => ({ path, label: i, className: String(i) }));
const now = () => performance.now() / 1000;

// 1. ffmpeg decode rate on the 40 s MP4: all 996 frames at 25 fps as RGB into this process.
const bottle = join(VIDEOS, 'bottle-detection.mp4');
let t0 = now();
let n = 0;
for await (const f of decodeFrames(bottle, { fps: 25 })) n += f.data.length > 0 ? 1 : 0;
const decodeS = now() - t0;
t0 = now();
await countFrames(bottle, { fps: 25 });
const countS = now() - t0;

// 2. The generator alone: clips/s per worker count, after a first epoch that also counts frames.
const gen: { workers: number; first: number; steady: number }[] = [];
for (const workers of workerCounts) {
  const g = new BatchGenerator({ samples, classes: samples.length, batchSize: 1, clip: { frames: T }, seed: 1, workers });
  const rates: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const s = now();
    let clips = 0;
    for await (const b of g.epoch(e)) clips += b.shape[0]!;
    rates.push(clips / (now() - s));
  }
  await g.close();
  gen.push({
    workers,
    first: rates[0]!,
    steady: rates.length > 1 ? rates.slice(1).reduce((a, b) => a + b, 0) / (rates.length - 1) : rates[0]!,
  });
}

// 3. The model alone: I3D RGB forward on [1, T, 224, 224, 3], no grad, median of 3 after a warm-up.
manualSeed(0);
const model = i3d('rgb_imagenet_and_kinetics');
model.eval();
const forward = (x: Float32Array) => scope(() => noGrad(() => void model.forward(tensor(x, [1, T, 224, 224, 3])).logits!.data()));
const x0 = scope(() => ops.rand([1, T, 224, 224, 3]).mul(2).sub(1).data() as Float32Array);
forward(x0);
const times: number[] = [];
for (let i = 0; i < 3; i++) {
  const s = now();
  forward(x0);
  times.push(now() - s);
}
const modelS = times.sort((a, b) => a - b)[1]!;

// 4. The model fed by the generator (2 workers): time spent waiting for the next batch.
const fed = new BatchGenerator({ samples, classes: samples.length, batchSize: 1, clip: { frames: T }, seed: 2, workers: 2 });
for await (const b of fed.epoch(0)) void b; // counts frames once, as a training run's first epoch would
let wait = 0;
let clips = 0;
const s4 = now();
let tw = now();
for await (const b of fed.epoch(1)) {
  wait += now() - tw;
  forward(b.x);
  clips++;
  tw = now();
}
const fedS = now() - s4;
await fed.close();

console.log(
  `bench/data: ${T}-frame clips of the 8 ASL .mkv videos (640x480, 2-3 s), 25 fps, shorter side 256, random crop 224, flip; libtorch threads ${getNumThreads()}`,
);
console.log(
  `ffmpeg decode of bottle-detection.mp4 (640x360 H.264, 996 frames at 25 fps): ${(n / decodeS).toFixed(0)} frames/s as RGB into Node, ${(n / countS).toFixed(0)} frames/s counting only`,
);
console.log('| pipeline | clips/s (first epoch, with frame counting) | clips/s (later epochs) |');
console.log('| --- | ---: | ---: |');
for (const r of gen)
  console.log(
    `| generator, ${r.workers === 0 ? 'no worker threads' : `${r.workers} worker thread${r.workers > 1 ? 's' : ''}`} | ${r.first.toFixed(2)} | ${r.steady.toFixed(2)} |`,
  );
console.log(`| model: I3D RGB forward [1, ${T}, 224, 224, 3], no grad | - | ${(1 / modelS).toFixed(2)} |`);
console.log(`| model fed by the generator (2 workers), one epoch | - | ${(clips / fedS).toFixed(2)} |`);
console.log(`model waited for data ${wait.toFixed(2)} s of ${fedS.toFixed(2)} s (${((100 * wait) / fedS).toFixed(1)}%)`);
