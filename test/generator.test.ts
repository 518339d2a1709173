// The batch generator: per-epoch shuffle, determinism under a seed whatever the worker count, unreadable videos
// skipped and reported once, flips that negate the flow's x channel, bounded read-ahead, real clips from workers.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { BatchGenerator, type Batch } from '../src/data/generator.js';
import type { Sample } from '../src/data/dataset.js';
import { loadClip } from '../src/video/clip.js';
import { fakeFlowSource, stats } from './fixtures/fake-flow-loader.js';
import { ASL, assertNoFfmpegLeft, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-gen-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);
// The fake flow source, in this thread and in worker threads.
const FAKE = { stream: 'flow', source: fakeFlowSource, workerModule: new URL('./fixtures/fake-clip-worker.js', import.meta.url) } as const;

async function collect(g: BatchGenerator, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of g.epoch(epoch)) out.push(b);
  return out;
}

const fakeSamples = (n: number, extra: string[] = []): Sample[] =>
  [...Array.from({ length: n }, (_, i) => `v${i + 1}.avi`), ...extra].map((p, i) => ({ path: p, label: i % 3, className: `c${i % 3}` }));

test('real videos through worker threads: the same batches with 2 workers or none, every epoch shuffled', async () => {
  const broken = join(tmp.dir, 'broken.avi');
  writeFileSync(broken, Buffer.alloc(3000, 7));
  const samples: Sample[] = [
    ...ASL.slice(0, 5).map((path, i) => ({ path, label: i % 2, className: `c${i % 2}` })),
    { path: broken, label: 0, className: 'c0' },
  ];
  const skips: string[] = [];
  const make = (workers: number) =>
    new BatchGenerator({
      samples,
      classes: 2,
      batchSize: 2,
      clip: { frames: 8, size: 112, resize: 128 },
      seed: 7,
      workers,
      onSkip: (p, e) => skips.push(`${p}: ${e.message}`),
    });
  const a = make(2);
  const b = make(0);
  try {
    const a0 = await collect(a, 0);
    const b0 = await collect(b, 0);
    assert.deepEqual(
      a0.map((x) => x.shape),
      [
        [2, 8, 112, 112, 3],
        [2, 8, 112, 112, 3],
        [1, 8, 112, 112, 3],
      ],
      'the unreadable file is skipped, the epoch goes on',
    );
    for (let k = 0; k < a0.length; k++) {
      assert.deepEqual(a0[k]!.paths, b0[k]!.paths);
      assert.deepEqual(a0[k]!.x, b0[k]!.x, `batch ${k}: workers or not, same augmentation`);
      assert.deepEqual(
        Array.from(a0[k]!.y),
        a0[k]!.paths.flatMap((p) => (samples.find((s) => s.path === p)!.label === 0 ? [1, 0] : [0, 1])),
      );
    }
    assert.deepEqual(a0.flatMap((x) => x.paths).sort(), ASL.slice(0, 5).sort(), 'each readable video once per epoch');
    const a1 = await collect(a, 1);
    assert.notDeepEqual(
      a1.flatMap((x) => x.paths),
      a0.flatMap((x) => x.paths),
      'epoch 1 is shuffled differently',
    );
    assert.deepEqual(a1.flatMap((x) => x.paths).sort(), ASL.slice(0, 5).sort());
    assert.deepEqual(a.order(1), make(0).order(1));
    assert.equal(skips.length, 2, 'reported once per generator, not again in epoch 1');
    assert.match(skips[0]!, /broken\.avi: .*broken\.avi: ffmpeg cannot read it/);
    assert.equal(a.skipped.size, 1);
    // Validation: dataset order and the centre crop, as loadClip gives it.
    const v = new BatchGenerator({
      samples: samples.slice(0, 2),
      classes: 2,
      batchSize: 2,
      clip: { frames: 8, size: 112, resize: 128 },
      training: false,
      workers: 1,
    });
    const [vb] = await collect(v, 0);
    await v.close();
    const want = await loadClip(ASL[1]!, { frames: 8, size: 112, resize: 128 });
    assert.deepEqual(vb!.paths, [ASL[0], ASL[1]]);
    assert.deepEqual(vb!.x.subarray(want.data.length), want.data);
  } finally {
    await a.close();
    await b.close();
  }
});

test('flips mirror the clip and negate the flow x channel; reproducible under a seed', async () => {
  const samples = fakeSamples(24);
  const opts = { samples, classes: 3, batchSize: 4, clip: { frames: 2 }, seed: 3, ...FAKE };
  const plain = new BatchGenerator({ ...opts, flip: false, workers: 0 });
  const flipped = new BatchGenerator({ ...opts, workers: 2 });
  const again = new BatchGenerator({ ...opts, workers: 1 });
  try {
    const p = (await collect(plain, 0)).flatMap((b) => splitClips(b));
    const f = (await collect(flipped, 0)).flatMap((b) => splitClips(b));
    assert.deepEqual(
      (await collect(again, 0)).flatMap((b) => splitClips(b)),
      f,
      'same seed, same flips, other worker count',
    );
    let mirrored = 0;
    f.forEach((clip, k) => {
      const orig = p[k]!;
      if (clip.every((v, i) => v === orig[i])) return;
      mirrored++;
      // [T=2, H=4, W=4, C=2]: x' = -x of the mirrored column, y' = y of the mirrored column.
      for (let t = 0; t < 2; t++)
        for (let y = 0; y < 4; y++)
          for (let x = 0; x < 4; x++) {
            const at = (xx: number, c: number) => ((t * 4 + y) * 4 + xx) * 2 + c;
            assert.equal(clip[at(x, 0)], -orig[at(3 - x, 0)]!);
            assert.equal(clip[at(x, 1)], orig[at(3 - x, 1)]);
          }
    });
    assert.ok(mirrored > 4 && mirrored < 20, `about half the clips are flipped: ${mirrored} of 24`);
  } finally {
    await Promise.all([plain.close(), flipped.close(), again.close()]);
  }
});

function splitClips(b: Batch): Float32Array[] {
  const n = b.x.length / b.shape[0]!;
  return Array.from({ length: b.shape[0]! }, (_, k) => b.x.slice(k * n, (k + 1) * n));
}

test('bounded read-ahead: while the consumer holds a batch, at most prefetch more batches are loaded', async () => {
  const g = new BatchGenerator({
    samples: fakeSamples(40),
    classes: 3,
    batchSize: 4,
    prefetch: 2,
    clip: { frames: 2 },
    workers: 0,
    ...FAKE,
  });
  stats.started = 0;
  const it = g.epoch(0);
  await it.next();
  await new Promise((r) => setTimeout(r, 50));
  // The batch handed out (4 clips) and 2 batches ahead (8): 12 of the 40, however long the consumer waits.
  assert.equal(stats.started, (2 + 1) * 4, `${stats.started} loads started after one batch`);
  await it.return();
  await g.close();
});

test('an unreadable video is skipped, a bug is not: it ends the epoch with its error', async () => {
  const skipped: string[] = [];
  const g = new BatchGenerator({
    samples: fakeSamples(5, ['bad.avi']),
    classes: 3,
    batchSize: 2,
    clip: { frames: 2 },
    workers: 1,
    ...FAKE,
    onSkip: (p) => skipped.push(p),
  });
  const batches = await collect(g, 0);
  assert.equal(
    batches.reduce((n, b) => n + b.shape[0]!, 0),
    5,
  );
  assert.deepEqual(skipped, ['bad.avi']);
  await collect(g, 1);
  assert.deepEqual(skipped, ['bad.avi'], 'reported once');
  await g.close();
  const h = new BatchGenerator({
    samples: fakeSamples(3, ['bug.avi']),
    classes: 3,
    batchSize: 2,
    clip: { frames: 2 },
    workers: 1,
    ...FAKE,
    training: false,
  });
  await assert.rejects(collect(h, 0), /a bug while loading bug\.avi/);
  await h.close();
  assert.throws(
    () => new BatchGenerator({ samples: fakeSamples(2), classes: 1, batchSize: 2, clip: { frames: 2 } }),
    /v2\.avi has label 1, outside \[0, 1\)/,
  );
});
