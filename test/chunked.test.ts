// Whole-video inference in overlapping temporal chunks against one pass over the whole clip: the Mixed_5c map, the
// features and the logits, on the fused and the eager engines, RGB and flow, random weights, small frames, lengths
// with every parity at the stride-2 layers (TF 'SAME' padding at the video's ends), chunks at odd lengths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, noGrad, ops, scope, tensor, type Tensor } from '../src/index.js';
import { alignedChunkFrames, eagerFeatureMap, meanRows, minChunkFrames, planChunks, runChunked } from '../src/inference/chunked.js';
import { createEngine } from '../src/inference/engine.js';
import { FusedI3D, fusedUnsupported } from '../src/inference/i3d-plan.js';
import { receptiveRange, temporalGeometry } from '../src/inference/receptive-field.js';
import { windowLogits, windowSpans, windowSteps } from '../src/inference/windows.js';
import { chunkFramesFor, DEFAULT_MAX_MEMORY, MB, MemoryBudgetError, rethrowMemory } from '../src/inference/memory-budget.js';
import { I3D } from '../src/models/i3d.js';
import { relErr } from './helpers.js';

const H = 48;
const W = 64;

function randomFrames(T: number, C: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: T }, () => Float32Array.from({ length: H * W * C }, next));
}

function clipOf(frames: Float32Array[], C: number): Tensor {
  const data = new Float32Array(frames.length * H * W * C);
  frames.forEach((f, i) => data.set(f, i * f.length));
  return tensor(data, [1, frames.length, H, W, C]);
}

test('receptive field of I3D from its layer list: stride 8, 99 frames; SAME padding before depends on the length mod 4', () => {
  const m = new I3D({ width: 0.25 });
  try {
    const g = [8, 9, 10, 11, 12].map((T) => temporalGeometry(m, T));
    assert.deepEqual(
      g.map((x) => [x.stride, x.receptive, x.outputs]),
      [8, 9, 10, 11, 12].map((T) => [8, 99, Math.ceil(T / 8)]),
    );
    // Conv3d_1a (7, stride 2) pads 2 before an even length, 3 before an odd one; MaxPool_4a (3, stride 2) 0 or 1.
    assert.deepEqual(
      g.map((x) => x.padBefore),
      [44, 47, 46, 45, 44],
    );
  } finally {
    m.dispose();
  }
});

test('planChunks: aligned starts and lengths, every step kept once in order, first and last chunks at the ends', () => {
  const m = new I3D({ width: 0.25 });
  try {
    for (let T = 8; T <= 420; T += 7)
      for (const L of [100, 111, 128, 203, 1000]) {
        const g = temporalGeometry(m, T);
        if (alignedChunkFrames(g, L) < minChunkFrames(g) && alignedChunkFrames(g, L) < T) {
          assert.throws(() => planChunks(g, L), /too short/);
          continue;
        }
        const cs = planChunks(g, L);
        assert.equal(cs[0]!.start, 0);
        assert.equal(cs.at(-1)!.end, T);
        let next = 0;
        for (const c of cs) {
          assert.equal(c.start % 8, 0, `T ${T} L ${L}: start ${c.start}`);
          assert.equal((c.end - c.start) % 8, T % 8, `T ${T} L ${L}: length`);
          assert.ok(c.end - c.start <= L);
          assert.equal(c.first, next);
          assert.ok(c.keep >= 1);
          next += c.keep;
        }
        assert.equal(next, g.outputs);
      }
  } finally {
    m.dispose();
  }
});

interface Case {
  engine: 'fused' | 'eager';
  stream: 'rgb' | 'flow';
  frames: number;
  chunk: number;
}

const cases: Case[] = [
  { engine: 'fused', stream: 'rgb', frames: 243, chunk: 117 }, // T mod 8 = 3: chunks of 115
  { engine: 'fused', stream: 'flow', frames: 230, chunk: 125 }, // T mod 8 = 6: chunks of 118
  { engine: 'eager', stream: 'rgb', frames: 233, chunk: 121 }, // T mod 8 = 1: chunks of 121
  { engine: 'eager', stream: 'flow', frames: 196, chunk: 110 }, // T mod 8 = 4: chunks of 108
];

for (const c of cases) {
  const skip = c.engine === 'fused' ? fusedUnsupported(new I3D({ stream: c.stream, classes: 7 })) : null;
  test(
    `chunked ${c.engine} ${c.stream}: ${c.frames} frames in chunks of <= ${c.chunk} equal one pass (1e-5 relative)`,
    { skip: skip ?? false },
    async () => {
      manualSeed(17);
      const model = new I3D({ stream: c.stream, classes: 7 }).eval();
      const fused = c.engine === 'fused' ? new FusedI3D(model) : null;
      const engine = createEngine(model, { engine: c.engine });
      assert.equal(engine.kind, c.engine);
      const C = model.inChannels;
      const frames = randomFrames(c.frames, C, c.frames);
      const parts: Tensor[] = [];
      const firsts: number[] = [];
      try {
        const ref = scope(() => {
          const clip = clipOf(frames, C);
          const map = fused ? fused.featureMap(clip) : eagerFeatureMap(model, clip);
          const out = noGrad(() => ({
            map: map.contiguous().keep(),
            logits: model.forwardHead(map).toArray(),
            features: map.mean([2, 3, 4]).toArray(),
          }));
          return out;
        });
        const r = await runChunked(
          engine,
          frames,
          { frames: c.frames, height: H, width: W },
          {
            chunkFrames: c.chunk,
            onFeatureMap: (m, first) => {
              parts.push(m.contiguous().keep());
              firsts.push(first);
            },
          },
        );
        assert.ok(r.chunks >= 2, `${r.chunks} chunks`);
        const errs = scope(() => {
          const map = ops.cat(parts, 2);
          assert.deepEqual(map.shape, ref.map.shape);
          return {
            map: relErr(map.toArray(), ref.map.toArray()),
            first: relErr(map.narrow(2, 0, 2).toArray(), ref.map.narrow(2, 0, 2).toArray()),
            last: relErr(map.narrow(2, r.steps - 2, 2).toArray(), ref.map.narrow(2, r.steps - 2, 2).toArray()),
            features: relErr(r.features, ref.features),
            logits: relErr(r.logits!, ref.logits),
          };
        });
        console.log(
          `chunked ${c.engine} ${c.stream} T=${c.frames}: ${r.chunks} chunks of <= ${r.chunkFrames} frames (first steps ${firsts.join(',')}); ` +
            `relative error map ${errs.map.toExponential(2)} (first steps ${errs.first.toExponential(2)}, last ${errs.last.toExponential(2)}), ` +
            `features ${errs.features.toExponential(2)}, logits ${errs.logits.toExponential(2)}`,
        );
        for (const [k, e] of Object.entries(errs)) assert.ok(e <= 1e-5, `${k}: relative error ${e}`);
        // The per-step logits average to the one-pass head.
        assert.ok(relErr(meanRows(r.stepLogits!), ref.logits) <= 1e-5);
        ref.map.dispose();
      } finally {
        for (const p of parts) p.dispose();
        fused?.dispose();
        engine.dispose();
        model.dispose();
      }
    },
  );
}

test('the comparison can fail: chunks without the receptive-field overlap differ from one pass', () => {
  manualSeed(3);
  const model = new I3D({ stream: 'rgb', classes: 5, width: 0.25 }).eval();
  const T = 64;
  const frames = randomFrames(T, 3, 5);
  try {
    const err = scope(() => {
      const whole = eagerFeatureMap(model, clipOf(frames, 3));
      const halves = ops.cat(
        [eagerFeatureMap(model, clipOf(frames.slice(0, 32), 3)), eagerFeatureMap(model, clipOf(frames.slice(32), 3))],
        2,
      );
      return relErr(halves.toArray(), whole.toArray());
    });
    assert.ok(err > 1e-3, `naive halves: relative error ${err}`);
  } finally {
    model.dispose();
  }
});

test('windows from the streamed map equal each window computed alone from the frames of its receptive field (1e-5)', async () => {
  manualSeed(11);
  const model = new I3D({ stream: 'rgb', classes: 6, width: 0.25 }).eval();
  const T = 211;
  const frames = randomFrames(T, 3, 7);
  try {
    const engine = createEngine(model, { engine: 'eager' });
    const r = await runChunked(engine, frames, { frames: T, height: H, width: W }, { chunkFrames: 120 });
    engine.dispose();
    const g = temporalGeometry(model, T);
    const spans = windowSpans(T, 50, 30);
    assert.ok(spans.length >= 5);
    let worst = 0;
    let inside = 0;
    for (const span of spans) {
      const [j0, j1] = windowSteps(span, 8, r.steps);
      // The frames the window's steps depend on, as a chunk would take them (aligned start and length, or the video's ends).
      const lo = receptiveRange(g, j0)[0];
      const hi = receptiveRange(g, j1 - 1)[1];
      if (lo >= 0 && hi < T) inside++;
      const a = lo <= 0 ? 0 : 8 * Math.floor(lo / 8);
      const b = hi >= T - 1 ? T : Math.min(T, a + alignedChunkFrames(g, hi + 1 - a + 7));
      const ref = scope(() => {
        const map = eagerFeatureMap(model, clipOf(frames.slice(a, b), 3));
        return noGrad(() => model.forwardHead(map.narrow(2, j0 - a / 8, j1 - j0)).toArray());
      });
      worst = Math.max(worst, relErr(windowLogits(r.stepLogits!, span, 8, r.steps), ref));
    }
    console.log(
      `windows: ${spans.length} (${inside} with the receptive field inside the video), worst relative error ${worst.toExponential(2)}`,
    );
    assert.ok(inside >= 2);
    assert.ok(worst <= 1e-5, `relative error ${worst}`);
  } finally {
    model.dispose();
  }
});

test('memory budget: too small a budget or too large frames give I3D_MEMORY_BUDGET naming the budget and what to change', () => {
  const m = new I3D({ width: 0.25 });
  try {
    const min = minChunkFrames(temporalGeometry(m, 7500));
    assert.ok(chunkFramesFor('v.mp4', 'fused', DEFAULT_MAX_MEMORY, { height: 224, width: 224, channels: 3 }, min) >= min);
    for (const [budget, size] of [
      [700 * MB, 224],
      [DEFAULT_MAX_MEMORY, 1600],
    ] as const) {
      assert.throws(
        () => chunkFramesFor('v.mp4', 'eager', budget, { height: size, width: size, channels: 3 }, min),
        (e: unknown) =>
          e instanceof MemoryBudgetError &&
          e.code === 'I3D_MEMORY_BUDGET' &&
          e.message.startsWith('v.mp4: ') &&
          e.message.includes(`--max-memory ${budget / MB} MB is too small for ${size}x${size}`) &&
          /raise --max-memory to \d+ MB or more, or use a smaller --size/.test(e.message),
      );
    }
    // An allocation failure in libtorch becomes the same error, without libtorch's message.
    const raw = new Error("DefaultCPUAllocator: can't allocate memory: you tried to allocate 5597233152 bytes");
    assert.throws(
      () => rethrowMemory(raw, { frames: 296, height: 224, width: 224, budgetBytes: 2000 * MB }),
      (e: unknown) =>
        e instanceof MemoryBudgetError && !e.message.includes('DefaultCPUAllocator') && /--max-memory 2000 MB/.test(e.message),
    );
    assert.throws(() => rethrowMemory(new Error('other'), { frames: 1, height: 1, width: 1 }), /^Error: other$/);
  } finally {
    m.dispose();
  }
});
