// Whole-video inference in bounded memory (src/inference/chunked.ts): `i3d predict` on generated 640x480 videos of
// 10 s, 60 s and 5 min (and 30 min with --long), each in a child process whose peak resident memory (VmHWM in
// /proc/<pid>/status) and time per frame are measured: over the whole run (start-up, the counting pass and loading
// included), and within the run from its progress lines (chunk by chunk: the first and the last tenth of the chunks,
// to show that time per frame does not grow along the video). With --naive-windows N, the 5-minute run also gives
// `--window 4 --stride 2`, then the windows against recomputing each window alone from its frames (in this process,
// the first N windows, timed per window and extrapolated; bench/windows.ts is the like-for-like comparison).
// Run: node dist/bench/long-video.js [--long] [--lengths 10,60,300] [--naive-windows N] [--max-memory MB]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipRunner } from '../src/inference/clip-runner.js';
import { streamLogits } from '../src/inference/predict.js';
import { windowSpans } from '../src/inference/windows.js';
import { I3D } from '../src/models/i3d.js';
import { manualSeed } from '../src/tensor/runtime.js';
import { streamFrames } from '../src/video/stream-frames.js';
import { log, positive, ROOT } from './common.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const long = args.includes('--long');
const naiveWindows = positive('naive-windows', flag('naive-windows') ?? '0', 0);
const maxMemory = flag('max-memory');

const dir = mkdtempSync(join(tmpdir(), 'i3d-long-'));
const labels = join(dir, 'labels.txt');
writeFileSync(labels, Array.from({ length: 400 }, (_, i) => `class ${i}`).join('\n'));

function makeVideo(seconds: number): string {
  const file = join(dir, `testsrc-${seconds}s.mp4`);
  const r = spawnSync('ffmpeg', [
    ...['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=25:duration=${seconds}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file],
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr.toString()}`);
  return file;
}

interface Run {
  peakMb: number;
  wallS: number;
  stdout: string;
  /** Chunk completions from the progress lines on stderr: [chunks done, seconds since the video's first progress]. */
  chunks: [number, number][];
  totalChunks: number;
}

const CHUNK_LINE = /^i3d: rgb: chunk (\d+)\/(\d+), \d+\/\d+ frames, ([\d.]+) s/gm;

/** Milliseconds per frame over chunks [from, to) of a run, from its progress lines (chunks of equal length but the last). */
function chunkMsPerFrame(r: Run, frames: number, from: number, to: number): number | null {
  const at = (k: number) => r.chunks.find(([c]) => c >= k);
  const a = at(from);
  const b = [...r.chunks].reverse().find(([c]) => c <= to);
  if (!a || !b || b[0] <= a[0]) return null;
  return ((b[1] - a[1]) * 1000) / (((b[0] - a[0]) * frames) / r.totalChunks);
}

/** `i3d predict` in a child process, sampling its peak resident memory. */
function predict(video: string, extra: string[]): Promise<Run> {
  const t0 = performance.now();
  const p = spawn(
    process.execPath,
    [join(ROOT, 'dist/src/cli/main.js'), 'predict', video, '--weights', 'random', '--labels', labels, '--json', ...extra],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let peakKb = 0;
  const sample = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  };
  const timer = setInterval(sample, 200);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    p.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`i3d predict ${video} exited ${code}: ${stderr}`));
      else {
        const lines = [...stderr.matchAll(CHUNK_LINE)];
        const chunks = lines.map((m) => [Number(m[1]), Number(m[3])] as [number, number]);
        const totalChunks = Number(lines.at(-1)?.[2] ?? 1);
        resolve({ peakMb: peakKb / 1024, wallS: (performance.now() - t0) / 1000, stdout, chunks, totalChunks });
      }
    });
  });
}

const lengths = flag('lengths')
  ? flag('lengths')!
      .split(',')
      .map((x) => positive('lengths', x))
  : long
    ? [10, 60, 300, 1800]
    : [10, 60, 300];
const mem = maxMemory ? ['--max-memory', maxMemory] : [];
const rows: string[] = [];
let oneMin = '';
let streamedWindowS = 0;
try {
  for (const s of lengths) {
    log(`generating ${s} s at 640x480...`);
    const video = makeVideo(s);
    if (s === 60) oneMin = video;
    const extra = s === 300 && naiveWindows > 0 ? ['--window', '4', '--stride', '2'] : [];
    log(`i3d predict ${s} s ${extra.join(' ')}...`);
    const r = await predict(video, [...mem, ...extra]);
    const frames = s * 25;
    if (s === 300) streamedWindowS = r.wallS;
    // Within the run: the first and the last tenth of the chunks, leaving out the first chunk (start-up, the
    // video's first edge) and the last (shorter, the other edge).
    const tenth = Math.max(1, Math.floor((r.totalChunks - 2) / 10));
    const first = chunkMsPerFrame(r, frames, 1, 1 + tenth);
    const last = chunkMsPerFrame(r, frames, r.totalChunks - 1 - tenth, r.totalChunks - 1);
    const ms = (x: number | null) => (x === null ? '-' : x.toFixed(1));
    rows.push(
      `| ${s} s | ${frames} | ${r.totalChunks} | ${r.peakMb.toFixed(0)} | ${r.wallS.toFixed(1)} | ${((1000 * r.wallS) / frames).toFixed(1)} | ${ms(first)} | ${ms(last)} |${extra.length ? ' with --window 4 --stride 2' : ''}`,
    );
    log(rows.at(-1)!);
  }
  console.log(
    `\n| video (640x480, 25 fps) | frames | chunks | peak RSS (MB) | wall (s) | ms per frame (whole run) | ms per frame, first tenth of chunks | ms per frame, last tenth |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of rows) console.log(r);

  if (naiveWindows > 0 && oneMin) {
    // Windows: the streamed map's windows against each window recomputed alone from its 100 frames (same weights).
    manualSeed(1);
    const runner = new ClipRunner(new I3D().eval());
    try {
      // The logits are compared on the 60-second video (same windows at its start); the time on the 5-minute one.
      log('streamed windows of the 60 s video in this process (for the comparison of logits)...');
      const streamed = await streamLogits(runner, oneMin, { window: 4, stride: 2 });
      const spans = windowSpans(60 * 25, 100, 50).slice(0, naiveWindows);
      log(`${spans.length} windows recomputed alone...`);
      const s = await streamFrames(oneMin, 'rgb');
      const frameLen = 224 * 224 * 3;
      const buf = new Map<number, Float32Array>();
      let i = 0;
      let naiveMs = 0;
      let worst = 0;
      let agree = 0;
      let n = 0;
      for await (const f of s.source) {
        buf.set(n++, f);
        while (i < spans.length && spans[i]!.end <= n) {
          const sp = spans[i]!;
          const data = new Float32Array((sp.end - sp.start) * frameLen);
          for (let k = sp.start; k < sp.end; k++) data.set(buf.get(k)!, (k - sp.start) * frameLen);
          const t0 = performance.now();
          const logits = await runner.logits({ data, shape: [1, sp.end - sp.start, 224, 224, 3] });
          naiveMs += performance.now() - t0;
          const ref = streamed.windows![i]!.logits;
          const num = Math.sqrt(logits.reduce((a, x, c) => a + (x - ref[c]!) ** 2, 0));
          const den = Math.sqrt(ref.reduce((a, x) => a + x * x, 0));
          worst = Math.max(worst, num / den);
          const arg = (xs: number[]) => xs.indexOf(Math.max(...xs));
          if (arg(logits) === arg(ref)) agree++;
          i++;
        }
        if (i >= spans.length) break;
        for (const k of buf.keys()) if (k < spans[i]!.start) buf.delete(k);
      }
      const all = windowSpans(300 * 25, 100, 50).length;
      const naiveS = (naiveMs / 1000 / spans.length) * all;
      console.log(
        `\n--window 4 --stride 2 on the 5-minute video: ${all} windows; streamed (whole predict) ${streamedWindowS.toFixed(0)} s; ` +
          `each window recomputed from its own 100 frames: ${(naiveMs / spans.length / 1000).toFixed(2)} s per window ` +
          `(${spans.length} timed), ${naiveS.toFixed(0)} s for all (extrapolated): ratio ${(naiveS / streamedWindowS).toFixed(2)}x. ` +
          `Window logits, recomputed alone vs from the streamed map: worst relative difference ${worst.toExponential(2)} ` +
          `(padding at the window's edges instead of the frames around it), top-1 agreement ${agree}/${spans.length}.`,
      );
    } finally {
      runner.dispose();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
