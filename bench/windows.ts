// `--window 4 --stride 2` on a long video: the windows `i3d predict` takes from one streamed feature map, against each
// window computed alone from the frames its prediction depends on (the receptive field of its Mixed_5c steps, aligned as
// a chunk would take them: the only way to compute a window alone and get the same logits). Both sides end to end on
// the same engine, decoding included: the streamed side is one `streamLogits` (counting pass, decoding, every chunk,
// the windows); the per-window side counts the video once, then decodes it again and computes its first
// --naive-windows windows, timed per window and extrapolated to all. Also: how far the two sides' logits differ.
// Run: node dist/bench/windows.js [--seconds 300] [--naive-windows 12] [--max-memory MB] [--video a ready testsrc2 video of
// that length]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { alignedChunkFrames, minChunkFrames, planChunks } from '../src/inference/chunked.js';
import { ClipRunner } from '../src/inference/clip-runner.js';
import { chunkFramesFor, DEFAULT_MAX_MEMORY, MB } from '../src/inference/memory-budget.js';
import { streamLogits } from '../src/inference/predict.js';
import { receptiveRange, temporalGeometry } from '../src/inference/receptive-field.js';
import { windowSpans, windowSteps } from '../src/inference/windows.js';
import { I3D } from '../src/models/i3d.js';
import { scope } from '../src/tensor/context.js';
import { manualSeed } from '../src/tensor/runtime.js';
import { tensor } from '../src/tensor/tensor.js';
import { streamFrames } from '../src/video/stream-frames.js';
import { log, positive } from './common.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = positive('seconds', flag('seconds') ?? '300');
const naiveWindows = positive('naive-windows', flag('naive-windows') ?? '12');
const maxMemory = flag('max-memory') ? positive('max-memory', flag('max-memory')) * MB : undefined;
const [WIN_S, STRIDE_S, FPS] = [4, 2, 25];

const dir = mkdtempSync(join(tmpdir(), 'i3d-windows-'));
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
};

try {
  const video = flag('video') ?? join(dir, `testsrc-${seconds}s.mp4`);
  if (!flag('video')) {
    log(`generating ${seconds} s at 640x480, 25 fps...`);
    const gen = spawnSync('ffmpeg', [
      ...['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=${FPS}:duration=${seconds}`],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video],
    ]);
    if (gen.status !== 0) throw new Error(`ffmpeg: ${gen.stderr.toString()}`);
  }
  const load0 = loadavg()[0]!;

  manualSeed(1);
  const runner = new ClipRunner(new I3D().eval());
  try {
    log(`streamed: i3d predict's path, --window ${WIN_S} --stride ${STRIDE_S} (${runner.engine.kind} engine)...`);
    let t0 = performance.now();
    const streamed = await streamLogits(runner, video, {
      window: WIN_S,
      stride: STRIDE_S,
      ...(maxMemory ? { maxMemory } : {}),
    });
    const streamedS = (performance.now() - t0) / 1000;
    const windows = streamed.windows!;
    log(`  ${streamedS.toFixed(1)} s, ${windows.length} windows, ${streamed.chunks} chunks`);

    log(`per window: the first ${naiveWindows} windows, each from the frames of its receptive field...`);
    t0 = performance.now();
    const s = await streamFrames(video, 'rgb');
    const countS = (performance.now() - t0) / 1000;
    const T = s.frames;
    const g = temporalGeometry(runner.model, T);
    const spans = windowSpans(T, WIN_S * FPS, STRIDE_S * FPS).slice(0, naiveWindows);
    const frameLen = s.height * s.width * s.channels;
    // What the streamed side ran: its chunks, as runChunked planned them.
    const dims = { height: s.height, width: s.width, channels: s.channels };
    const plan = planChunks(g, chunkFramesFor(video, runner.engine.kind, maxMemory ?? DEFAULT_MAX_MEMORY, dims, minChunkFrames(g)));
    const streamedFrames = plan.reduce((sum, c) => sum + c.end - c.start, 0);
    const held = new Map<number, Float32Array>();
    let n = 0;
    let worst = 0;
    let worstInside = 0;
    let inside = 0;
    let frames = 0;
    let decodeMs = 0;
    let modelMs = 0;
    // Each window's frames [a, b): its receptive field, aligned as a chunk would take it (or the video's ends).
    const ranges = spans.map((span) => {
      const [j0, j1] = windowSteps(span, g.stride, g.outputs);
      const lo = receptiveRange(g, j0)[0];
      const hi = receptiveRange(g, j1 - 1)[1];
      const a = lo <= 0 ? 0 : g.stride * Math.floor(lo / g.stride);
      const b = hi >= T - 1 ? T : Math.min(T, a + alignedChunkFrames(g, hi + 1 - a + g.stride - 1));
      return { j0, j1, lo, hi, a, b };
    });
    // The plans for their clip lengths are built first (the first window and the rest: two lengths), as the streamed
    // side builds its two (chunk and last chunk) once: extrapolating a plan's build to every window would be unfair.
    const lengths = [...new Set(ranges.map((r) => r.b - r.a))];
    for (const len of lengths.slice(-2)) runner.engine.layout(len, s.height, s.width);
    const it = s.source[Symbol.asyncIterator]();
    t0 = performance.now();
    for (const [i, { j0, j1, lo, hi, a, b }] of ranges.entries()) {
      const t1 = performance.now();
      while (n < b) {
        const r = await it.next();
        if (r.done) throw new Error(`the video ended after ${n} frames`);
        held.set(n++, r.value);
      }
      for (const k of held.keys()) if (k < a) held.delete(k);
      const data = new Float32Array((b - a) * frameLen);
      for (let k = a; k < b; k++) data.set(held.get(k)!, (k - a) * frameLen);
      frames += b - a;
      const t2 = performance.now();
      decodeMs += t2 - t1;
      const logits = await scope(async () => {
        const map = await runner.engine.featureMap(tensor(data, [1, b - a, s.height, s.width, s.channels]));
        return (await runner.engine.logits(map.narrow(2, j0 - a / g.stride, j1 - j0))).toArray();
      });
      modelMs += performance.now() - t2;
      const e = relErr(logits, windows[i]!.logits);
      worst = Math.max(worst, e);
      if (lo >= 0 && hi < T) {
        inside++;
        worstInside = Math.max(worstInside, e);
      }
    }
    const perWindowS = (performance.now() - t0) / 1000 / spans.length;
    await it.return?.();
    const naiveS = countS + perWindowS * windows.length;
    const load1 = loadavg()[0]!;
    console.log(
      `\n--window ${WIN_S} --stride ${STRIDE_S} on a ${seconds} s video (640x480, ${T} frames at 25 fps), ${runner.engine.kind} engine, ` +
        `load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after:\n` +
        `| path | wall (s) | frames through the model |\n| --- | --- | --- |\n` +
        `| one streamed map (${streamed.chunks} chunks) | ${streamedS.toFixed(1)} | ${streamedFrames} |\n` +
        `| each window alone (${spans.length} timed, ${(frames / spans.length).toFixed(0)} frames each (${lengths.join(', ')}), extrapolated to ${windows.length}) | ` +
        `${naiveS.toFixed(1)} (count ${countS.toFixed(1)} + ${perWindowS.toFixed(2)} per window) | ${((frames / spans.length) * windows.length).toFixed(0)} |\n` +
        `streamed is ${(naiveS / streamedS).toFixed(2)}x faster. Per window alone: decoding ${(decodeMs / n).toFixed(1)} ms per frame decoded ` +
        `(${n} frames, the counting pass not included), the model ${(modelMs / frames).toFixed(1)} ms per frame through it. Logits, each window alone vs the streamed map: worst relative difference ` +
        `${worst.toExponential(2)} over ${spans.length} windows (${worstInside.toExponential(2)} over the ${inside} whose receptive field lies inside the video).`,
    );
  } finally {
    runner.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
