// The inference engines (src/inference/engine.ts) keep the event loop answering: a full-size clip (1 x 64 x 224 x 224
// RGB, random weights) runs on each engine while perf_hooks measures the event loop's delay; the longest stall must
// stay far below the clip's run time. A control runs the synchronous eager ops the same way, to show that the
// measurement sees a blocked loop. Parity with the reference is in isa.test (both engines) and i3d-fused.test.
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { createEngine, manualSeed, noGrad, ops, scope, type InferenceEngine, type Tensor } from '../src/index.js';
import { eagerFeatureMap } from '../src/inference/chunked.js';
import { I3D } from '../src/models/i3d.js';
import { relErr } from './helpers.js';

interface Lag {
  runMs: number;
  maxLagMs: number;
  p99LagMs: number;
  ticks: number;
}

/** Runs `fn` while measuring the event loop's delay (10 ms resolution) and counting 10 ms timer ticks. */
async function withLag<T>(fn: () => Promise<T>): Promise<{ result: T; lag: Lag }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  h.enable();
  const t0 = performance.now();
  try {
    const result = await fn();
    const runMs = performance.now() - t0;
    h.disable();
    return { result, lag: { runMs, maxLagMs: h.max / 1e6, p99LagMs: h.percentile(99) / 1e6, ticks } };
  } finally {
    clearInterval(timer);
    h.disable();
  }
}

const show = (what: string, l: Lag) =>
  console.log(
    `${what}: ran ${l.runMs.toFixed(0)} ms; event-loop delay max ${l.maxLagMs.toFixed(1)} ms, p99 ${l.p99LagMs.toFixed(1)} ms; ` +
      `${l.ticks} timer ticks of 10 ms`,
  );

let reference: Float32Array | null = null;

for (const kind of ['eager', 'fused'] as const) {
  test(`the ${kind} engine runs a full-size clip (1x64x224x224x3) with the event loop answering`, async () => {
    manualSeed(5);
    const model = new I3D({ includeTop: false }).eval();
    let engine: InferenceEngine | null = null;
    try {
      engine = createEngine(model, { engine: kind });
      if (kind === 'fused' && engine.kind !== 'fused') {
        console.log(`the fused engine cannot run here: ${engine.reason}`);
        return;
      }
      const e = engine;
      await scope(async () => {
        const clip = noGrad(() => ops.rand([1, 64, 224, 224, 3]).mul(2).sub(1));
        if (kind === 'fused') await e.featureMap(ops.narrow(clip, 1, 0, 8)); // builds a plan first (not what is measured)
        const { result: map, lag } = await withLag(() => e.featureMap(clip));
        show(`${kind} engine`, lag);
        assert.deepEqual(map.shape, [1, 1024, 8, 7, 7]);
        const data = map.data() as Float32Array;
        // Both engines give the same map (the same seed gives the same weights and clip).
        if (reference) assert.ok(relErr(data, reference) < 1e-5, `relative error ${relErr(data, reference)} between the engines`);
        else reference = data;
        // Far below the run: under 200 ms, or under a tenth of the run where a loaded machine stretches both (the
        // longest stalls left are garbage collections that the tensors' external-memory reports start, and time the
        // main thread waits for a core; the synchronous ops stalled it for the whole run).
        const limit = Math.max(200, 0.1 * lag.runMs);
        assert.ok(lag.maxLagMs < limit, `the event loop stalled ${lag.maxLagMs.toFixed(1)} ms of a ${lag.runMs.toFixed(0)} ms run`);
        assert.ok(lag.ticks >= (0.5 * lag.runMs) / 10, `${lag.ticks} timer ticks in ${lag.runMs.toFixed(0)} ms`);
      });
    } finally {
      engine?.dispose();
      model.dispose();
    }
  });
}

test('the measurement sees a blocked loop: the synchronous eager ops stall it for their whole run', async () => {
  manualSeed(5);
  const model = new I3D({ includeTop: false, width: 0.25 }).eval();
  try {
    const { lag } = await withLag(async () => {
      await new Promise((r) => setTimeout(r, 30)); // the histogram's timer starts
      scope(() => {
        const clip = noGrad(() => ops.rand([1, 32, 112, 112, 3]));
        (eagerFeatureMap(model, clip) as Tensor).dispose();
      });
      await new Promise((r) => setTimeout(r, 30));
    });
    show('synchronous eager ops (control)', lag);
    assert.ok(lag.maxLagMs > 0.5 * (lag.runMs - 60), `max delay ${lag.maxLagMs.toFixed(1)} ms of a ${lag.runMs.toFixed(0)} ms run`);
  } finally {
    model.dispose();
  }
});

test('createEngine: the eager engine with its reason when asked for; bf16 needs the fused engine', () => {
  const model = new I3D({ includeTop: false, width: 0.25 });
  try {
    const eager = createEngine(model, { engine: 'eager' });
    assert.equal(eager.kind, 'eager');
    assert.equal(eager.reason, 'the eager engine was asked for');
    assert.equal(eager.layout(8, 32, 32), null);
    eager.dispose();
    assert.throws(() => createEngine(model, { engine: 'eager', precision: 'bf16' }), /--precision bf16 needs the fused engine/);
    assert.throws(() => createEngine(model, { engine: 'cuda' as 'eager' }), /'engine' must be one of 'fused', 'eager'/);
  } finally {
    model.dispose();
  }
});
