// The worker pool of the data layer (data/worker-pool.ts) and the clip pool over it (data/clip-pool.ts), which the
// batch generator and the feature extractor share: results and errors come back, a worker that dies fails only the
// task it held (I3D_WORKER_CRASHED naming it) and is replaced, close() ends every pending task, and clips loaded in
// worker threads are the clips loaded in this thread, bit for bit. Every test has a time limit: a pending promise
// that is never settled fails it instead of hanging the suite.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { threadId } from 'node:worker_threads';
import { I3DError } from '../src/core/errors.js';
import { ClipPool } from '../src/data/clip-pool.js';
import { BatchGenerator } from '../src/data/generator.js';
import { WorkerPool } from '../src/data/worker-pool.js';
import type { ClipOptions } from '../src/video/clip.js';
import { VideoError } from '../src/video/errors.js';
import { loadStreamClip } from '../src/video/stream-clip.js';
import { fakeFlowSource } from './fixtures/fake-flow-loader.js';
import type { PoolTestResult, PoolTestTask } from './fixtures/pool-test-worker.js';
import { ASL, assertNoFfmpegLeft, pattern, tempDir } from './video-fixtures.js';

const TEST_WORKER = new URL('./fixtures/pool-test-worker.js', import.meta.url);
const FAKE_CLIP_WORKER = new URL('./fixtures/fake-clip-worker.js', import.meta.url);
const LIMIT = { timeout: 60_000 };

const tmp = tempDir('i3d-pool-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);

const pool = (size: number, slots = 1) => new WorkerPool<PoolTestTask, PoolTestResult>({ module: TEST_WORKER, size, slots, name: 'test' });
const echo = (n: number, delayMs = 0): PoolTestTask => ({ op: 'echo', n, delayMs });

function assertCrashed(e: unknown, label: string, why: RegExp): true {
  assert.ok(e instanceof I3DError, `an I3DError, got ${String(e)}`);
  assert.equal(e.code, 'I3D_WORKER_CRASHED');
  assert.ok(e.message.startsWith(`${label}: the `), e.message);
  assert.match(e.message, why);
  return true;
}

test('results come back (buffers moved), task errors reject with their name, message and code; the worker lives on', LIMIT, async () => {
  const p = pool(2, 2);
  try {
    const r = await p.run(echo(5), { label: 'five' });
    assert.deepEqual(Array.from(r.data), [5, 6, 7, 8]);
    assert.notEqual(r.thread, threadId, 'ran in a worker thread');
    await assert.rejects(p.run({ op: 'throw' }, { label: 'x.avi' }), (e: Error & { file?: string }) => {
      assert.equal(e.name, 'TypeError');
      assert.equal(e.message, 'bad task');
      assert.equal(e.file, 'x.avi');
      return true;
    });
    await assert.rejects(p.run({ op: 'throw-i3d' }, { label: 'x.avi' }), (e: unknown) => {
      assert.ok(e instanceof I3DError);
      assert.equal(e.code, 'I3D_INVALID_ARGUMENT');
      assert.equal(e.message, 'x.avi: a bad option');
      return true;
    });
    // Same key, same worker whenever it has room; the worker that threw still answers.
    const same: number[] = [];
    for (let n = 0; n < 4; n++) same.push((await p.run(echo(n), { label: `v${n}`, key: 'a/video.mkv' })).thread);
    assert.equal(new Set(same).size, 1, 'one key, one worker');
    const many = await Promise.all(Array.from({ length: 12 }, (_, n) => p.run(echo(n, 5), { label: `v${n}`, key: `v${n}` })));
    assert.deepEqual(
      many.map((x) => x.n),
      Array.from({ length: 12 }, (_, n) => n),
    );
    assert.equal(new Set(many.map((x) => x.thread)).size, 2, 'the keys spread over both workers');
  } finally {
    await p.close();
  }
});

for (const [op, why] of [
  ['exit', /exited with code 3/],
  ['uncaught', /RangeError: thrown outside the task/],
] as const)
  test(
    `a worker that dies mid-task (${op}): that task fails with I3D_WORKER_CRASHED naming it, a new worker runs the tasks queued behind it`,
    LIMIT,
    async () => {
      const p = pool(1, 1);
      try {
        const before = (await p.run(echo(0), { label: 'warm-up' })).thread;
        const crash = p.run({ op }, { label: 'data/c1/crash.avi', key: 'data/c1/crash.avi' });
        const queued = [1, 2, 3].map((n) => p.run(echo(n), { label: `v${n}.avi`, key: `v${n}.avi` }));
        await assert.rejects(crash, (e) => assertCrashed(e, 'data/c1/crash.avi', why));
        const after = await Promise.all(queued);
        assert.deepEqual(
          after.map((r) => r.n),
          [1, 2, 3],
        );
        assert.ok(
          after.every((r) => r.thread !== before),
          'a fresh worker thread',
        );
        // And the pool keeps working for tasks sent after the crash, on the same place.
        assert.equal((await p.run(echo(9), { label: 'v9.avi', key: 'data/c1/crash.avi' })).n, 9);
      } finally {
        await p.close();
      }
    },
  );

test('a crash fails only the tasks of the worker that died; the other worker goes on', LIMIT, async () => {
  const p = pool(2, 2);
  try {
    // Find keys that land on different workers.
    const threadOf = async (key: string) => (await p.run(echo(0), { label: key, key })).thread;
    const t0 = await threadOf('k0');
    let other = '';
    for (let k = 1; !other; k++) if ((await threadOf(`k${k}`)) !== t0) other = `k${k}`;
    const slow = p.run(echo(1, 300), { label: 'slow.avi', key: other });
    const crash = p.run({ op: 'exit' }, { label: 'crash.avi', key: 'k0' });
    await assert.rejects(crash, (e) => assertCrashed(e, 'crash.avi', /exited with code 3/));
    assert.equal((await slow).n, 1);
  } finally {
    await p.close();
  }
});

test('close() with tasks running and queued rejects them all promptly with I3D_POOL_CLOSED; later runs reject too', LIMIT, async () => {
  const p = pool(1, 1);
  const closed = (label: string) => (e: unknown) => {
    assert.ok(e instanceof I3DError);
    assert.equal(e.code, 'I3D_POOL_CLOSED');
    assert.ok(e.message.startsWith(`${label}: `), e.message);
    return true;
  };
  const running = assert.rejects(p.run(echo(1, 60_000), { label: 'long.avi' }), closed('long.avi'));
  const queued = assert.rejects(p.run(echo(2), { label: 'queued.avi' }), closed('queued.avi'));
  await new Promise((r) => setTimeout(r, 50));
  const t = performance.now();
  await p.close();
  await running;
  await queued;
  await assert.rejects(p.run(echo(3), { label: 'late.avi' }), closed('late.avi'));
  assert.ok(performance.now() - t < 10_000, 'not after the 60 s task');
  assert.throws(() => new WorkerPool({ module: TEST_WORKER, size: 0 }), /'size' must be a positive integer, got 0/);
});

test('real videos: clips loaded by the pool in 2 workers equal the clips loaded in this thread, bit for bit', LIMIT, async () => {
  const cases: { path: string; options: ClipOptions; flip: boolean }[] = ASL.slice(0, 4).map((path, i) => ({
    path,
    options:
      i % 2 ? { frames: 8, size: 112, resize: 128, crop: 'random', seed: 11 * i } : { frames: 6, segments: 2, size: 112, resize: 128 },
    flip: i >= 2,
  }));
  const p = new ClipPool({ stream: 'rgb', workers: 2 });
  const here = new ClipPool({ stream: 'rgb', workers: 0 });
  try {
    const pooled = await Promise.all(cases.map((c) => p.load(c.path, c.options, c.flip)));
    for (const [k, c] of cases.entries()) {
      const want = await loadStreamClip('rgb', c.path, { ...c.options, flip: c.flip });
      assert.deepEqual(pooled[k]!.shape, want.shape);
      assert.deepEqual(pooled[k]!.indices, want.indices);
      assert.deepEqual(pooled[k]!.data, want.data, `${c.path}: same values`);
      assert.deepEqual((await here.load(c.path, c.options, c.flip)).data, want.data);
    }
    await assert.rejects(p.load(join(tmp.dir, 'missing.mkv'), { frames: 8 }), (e: unknown) => {
      assert.ok(e instanceof VideoError, 'a VideoError stays one across threads (the generator skips it)');
      assert.equal(e.file, join(tmp.dir, 'missing.mkv'));
      return true;
    });
  } finally {
    await Promise.all([p.close(), here.close()]);
  }
});

test('flow clips: through the pool (flipped: x negated) equal the flow clips loaded in this thread', LIMIT, async () => {
  const video = pattern(join(tmp.dir, 'waves.mkv'), { frames: 10, width: 80, height: 64 });
  const saved = process.env.I3D_CACHE_DIR;
  process.env.I3D_CACHE_DIR = join(tmp.dir, 'cache'); // the workers copy the environment when they start
  const p = new ClipPool({ stream: 'flow', workers: 1 });
  try {
    const options: ClipOptions = { frames: 4, size: 48, resize: 64, crop: 'random', seed: 5 };
    const [a, b] = await Promise.all([p.load(video, options, true), p.load(video, options, false)]);
    const want = await loadStreamClip('flow', video, options);
    assert.deepEqual(b!.data, want.data);
    const flipped = await loadStreamClip('flow', video, { ...options, flip: true });
    assert.deepEqual(a!.data, flipped.data);
    assert.notDeepEqual(a!.data, b!.data);
  } finally {
    await p.close();
    if (saved === undefined) delete process.env.I3D_CACHE_DIR;
    else process.env.I3D_CACHE_DIR = saved;
  }
});

test("the extractor's and generator's clip pool after a worker crash: the crashed load fails, later loads complete", LIMIT, async () => {
  // Before the shared pool, extractFeatures' own pool had no 'exit' handler: this crash left its load, and every
  // later load sent to that worker, pending forever.
  const p = new ClipPool({ stream: 'flow', workers: 1, source: fakeFlowSource, workerModule: FAKE_CLIP_WORKER });
  try {
    const o: ClipOptions = { frames: 2 };
    const crash = p.load('data/c0/crash.avi', o);
    // A worker runs 2 loads at once: v1 is in the thread with crash.avi, v2.. are queued behind them.
    const v1 = p.load('v1.avi', o);
    const behind = ['v2.avi', 'v3.avi', 'v4.avi', 'v5.avi'].map((v) => p.load(v, o));
    await assert.rejects(crash, (e) => assertCrashed(e, 'data/c0/crash.avi', /exited with code 7\) while it also ran v1\.avi/));
    await assert.rejects(v1, (e) => assertCrashed(e, 'v1.avi', /exited with code 7\) while it also ran data\/c0\/crash\.avi/));
    const got = await Promise.all(behind);
    for (const [k, c] of got.entries()) assert.deepEqual(c.data, (await fakeFlowSource.load(`v${k + 2}.avi`, o)).data);
    const later = await p.load('v6.avi', o, true);
    assert.deepEqual(later.shape, [1, 2, 4, 4, 2]);
    // The batch generator: a crash is not an unreadable video; the epoch ends with the error naming the video.
    const g = new BatchGenerator({
      samples: ['crash.avi', 'v1.avi', 'v2.avi'].map((path, i) => ({ path, label: i % 2, className: `c${i % 2}` })),
      classes: 2,
      batchSize: 2,
      clip: { frames: 2 },
      training: false,
      workers: 1,
      stream: 'flow',
      source: fakeFlowSource,
      workerModule: FAKE_CLIP_WORKER,
      onSkip: () => assert.fail('a crash is not skipped'),
    });
    try {
      await assert.rejects(g.epoch(0).next(), (e) => assertCrashed(e, 'crash.avi', /clip loader thread running it died/));
    } finally {
      await g.close();
    }
  } finally {
    await p.close();
  }
});
