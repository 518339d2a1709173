// Child process of test/storage.test.ts. Modes:
//   flow <dir> <video> <log> <entries>   fills flow cache entries 0..entries-1 (each computed in 300 ms, a line in <log>
//                                        per computation) in an order of its own, prints what it got as one JSON line
//   features <out> <video>...            extractFeatures with a tiny random backbone into <out>, prints the entries
//   hold <lock file>                     takes the lock, prints 'held', waits for a signal
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockSync } from '../src/core/lock.js';
import { sha256 } from '../src/core/hash.js';
import { extractFeatures } from '../src/features/extract.js';
import { setNumThreads } from '../src/tensor/runtime.js';
import { cachedFlow, type FlowArray } from '../src/video/flow-cache.js';

const [mode, ...args] = process.argv.slice(2);

/** The flow of entry `i`: deterministic values, so every process computes the same bytes. */
function flowOf(i: number): FlowArray {
  const shape = [3, 20, 24, 2];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let k = 0; k < data.length; k++) data[k] = Math.sin(k * 0.01 + i);
  return { data, shape };
}

if (mode === 'flow') {
  const [dir, video, log, n] = args as [string, string, string, string];
  const order = Array.from({ length: Number(n) }, (_, i) => i);
  if (process.pid % 2) order.reverse();
  const got: Record<number, { cached: boolean; sha256: string; shape: number[] }> = {};
  await Promise.all(
    order.map(async (i) => {
      const r = await cachedFlow(video, { dir, implementation: 'test', params: { entry: i }, sampling: {} }, async () => {
        appendFileSync(log, `${i} ${process.pid}\n`);
        await sleep(300);
        return flowOf(i);
      });
      got[i] = { cached: r.cached, sha256: sha256(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength)), shape: r.shape };
    }),
  );
  console.log(JSON.stringify(got));
} else if (mode === 'features') {
  const [out, ...videos] = args as [string, ...string[]];
  setNumThreads(1); // four of these share the machine
  const r = await extractFeatures(videos, {
    out,
    backbone: 'random',
    width: 0.0625,
    seed: 42,
    segments: 2,
    frames: 8,
    size: 32,
    resize: 40,
    batch: 2,
    workers: 0,
    onSkip: (p, e) => console.error(`skipped ${p}: ${e.message}`),
  });
  console.log(JSON.stringify({ dir: r.dir, computed: r.computed, entries: r.entries.map((e) => e.file) }));
} else if (mode === 'hold') {
  lockSync(args[0]!, { purpose: 'a test holder' });
  console.log('held');
  setInterval(() => {}, 1000);
} else {
  console.error(`storage-child: unknown mode ${mode}`);
  process.exit(2);
}
