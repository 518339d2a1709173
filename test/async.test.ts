// Heavy ops off the JS thread keep the event loop responsive; the addon loads in several worker threads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { F, manualSeed, ops, scope, type Tensor } from '../src/index.js';
import { ROOT } from './helpers.js';

/** Runs `work` while a 5 ms timer measures how late it fires; returns the worst lag and the work's duration. */
async function lagDuring(work: () => Promise<unknown> | unknown): Promise<{ lag: number; ms: number }> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  await work();
  const ms = performance.now() - t0 - 20;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  return { lag: worst, ms };
}

test('a heavy conv3d through the async path leaves the event loop responsive (lag < 50 ms)', async () => {
  await scope(async () => {
    const x = ops.randn([1, 64, 16, 56, 56]);
    const w = ops.randn([64, 64, 3, 3, 3]);
    const heavy = async () => {
      for (let i = 0; i < 6; i++) (await F.conv3d.async(x, w, { padding: 1 })).dispose();
    };
    const sync = await lagDuring(() => {
      for (let i = 0; i < 6; i++) F.conv3d(x, w, { padding: 1 }).dispose();
    });
    const async = await lagDuring(heavy);
    // The same work on the JS thread blocks the timer for its whole length: the measurement can see a stall.
    assert.ok(sync.lag > 100, `sync conv3d should block the loop, lag ${sync.lag.toFixed(1)} ms`);
    assert.ok(async.ms > 150, `the work must be heavy enough to matter (${async.ms.toFixed(0)} ms)`);
    console.log(`async lag ${async.lag.toFixed(1)} ms over ${async.ms.toFixed(0)} ms; sync lag ${sync.lag.toFixed(1)} ms`);
    assert.ok(async.lag < 50, `event-loop lag ${async.lag.toFixed(1)} ms while conv3d ran ${async.ms.toFixed(0)} ms`);
  });
});

test('a full training step (forward, backward, SGD) can run through async ops', async () => {
  const { SGD } = await import('../src/index.js');
  await scope(async () => {
    manualSeed(1);
    const w = ops.randn([4, 3, 3, 3, 3]).mul(0.1).keep();
    w.requiresGrad = true;
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
    const x = ops.randn([2, 3, 4, 8, 8]);
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      await scope(async () => {
        opt.zeroGrad();
        const y = await F.conv3d.async(x, w, { padding: 'same' });
        const loss = await ops.mean.async(await ops.pow.async(y, 2));
        await loss.backwardAsync();
        await opt.stepAsync();
        losses.push(loss.item());
      });
    }
    assert.ok(losses[4]! < losses[0]!, `loss falls: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    opt.dispose();
    w.dispose();
  });
});

test('the addon loads in several worker threads at once and computes the same numbers', async () => {
  const src = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { ops, F, manualSeed } = await import(workerData.lib);
    manualSeed(5);
    const y = F.conv3d(ops.randn([1, 3, 4, 8, 8]), ops.randn([2, 3, 3, 3, 3]), { padding: 'same' });
    parentPort.postMessage(y.sum().item());
  `;
  const lib = pathToFileURL(join(ROOT, 'dist/src/index.js')).href;
  const run = () =>
    new Promise<number>((resolve, reject) => {
      const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`), { workerData: { lib } });
      w.once('message', resolve);
      w.once('error', reject);
    });
  const results = await Promise.all([run(), run(), run()]);
  const here = scope(() => {
    manualSeed(5);
    const y: Tensor = F.conv3d(ops.randn([1, 3, 4, 8, 8]), ops.randn([2, 3, 3, 3, 3]), { padding: 'same' });
    return y.sum().item();
  });
  for (const r of results) assert.equal(r, here);
});
