// bench/flow: ms per 224x224 frame pair of TV-L1 flow, on the same frames in one run: ours (native/tvl1.cc) under the
// CPU's widest ISA and capped to AVX2 and scalar, OpenCV's DualTVL1 through the addon (1 and all OpenCV threads),
// Python's cv2 (Debian python3-opencv); one pair at a time (CPU ms per pair) and with all cores busy (one pair per
// core in flight: wall ms per pair, pairs per second); the endpoint error of ours against OpenCV.
// With --torch, also a TV-L1 written in libtorch tensor ops (bench/peers/tvl1_torch.py, PyTorch eager = the same ops).
// Usage: node dist/bench/flow.js [--pairs N] [--first K] [--repeats R] [--video path] [--torch]
// Each row: the median over R rounds of the mean ms per pair over N pairs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  flowFacts,
  flowIsa,
  flowSequence,
  setFlowThreads,
  tvl1Flow,
  TVL1_DEFAULTS,
  type FlowImpl,
  type FlowIsa,
} from '../src/video/flow.js';
import { ROOT } from './common.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '8' },
    first: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '3' },
    torch: { type: 'boolean', default: false },
    video: { type: 'string', default: join(ROOT, '../shared/data/videos/asl_book.mkv') },
  },
});
const pairs = Number(values.pairs);
const firstFrame = Number(values.first);
const repeats = Number(values.repeats);
const SIZE = 224;
const cores = availableParallelism();
const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');

// Frames: 25 fps, shorter side 256, centre crop 224, gray (ffmpeg's conversion; fine for timing).
const ff = spawnSync(
  'ffmpeg',
  [
    '-v',
    'error',
    '-i',
    values.video,
    '-vf',
    `fps=25,scale=-2:256:flags=bilinear,crop=${SIZE}:${SIZE}`,
    '-frames:v',
    String(firstFrame + pairs + 1),
  ].concat(['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']),
  { maxBuffer: 1 << 28 },
);
if (ff.status !== 0) throw new Error(`ffmpeg failed on ${values.video}: ${ff.stderr.toString()}`);
const frames: Uint8Array[] = [];
for (let i = firstFrame * SIZE * SIZE; i + SIZE * SIZE <= ff.stdout.length; i += SIZE * SIZE)
  frames.push(new Uint8Array(ff.stdout.subarray(i, i + SIZE * SIZE)));
if (frames.length < 2) throw new Error(`only ${frames.length} frames from ${values.video}`);
const n = frames.length - 1;

interface Row {
  impl: string;
  mode: string;
  threads: string;
  msPerPair: number;
  cpuMsPerPair: number;
}
const rows: Row[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall and CPU (all threads of the process) milliseconds per pair. */
type Timing = [number, number];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Impl {
  impl: FlowImpl;
  isa?: FlowIsa;
}
const label = (o: Impl) => (o.impl === 'ours' ? `ours (${flowIsa(o.isa)})` : 'OpenCV (addon)');

function sync(o: Impl, threads: number): Timing {
  setFlowThreads(threads);
  tvl1Flow(frames[0]!, frames[1]!, SIZE, SIZE, {}, o); // warm-up
  const [t0, c0] = [performance.now(), cpuMs()];
  for (let i = 0; i < n; i++) tvl1Flow(frames[i]!, frames[i + 1]!, SIZE, SIZE, {}, o);
  return [(performance.now() - t0) / n, (cpuMs() - c0) / n];
}

async function parallel(o: Impl, threads: number, concurrency: number): Promise<Timing> {
  setFlowThreads(threads);
  tvl1Flow(frames[0]!, frames[1]!, SIZE, SIZE, {}, o);
  const [t0, c0] = [performance.now(), cpuMs()];
  let got = 0;
  for await (const f of flowSequence(frames, SIZE, SIZE, { concurrency, ...o })) got += f.length > 0 ? 1 : 0;
  if (got !== n) throw new Error(`flowSequence gave ${got} fields, expected ${n}`);
  return [(performance.now() - t0) / n, (cpuMs() - c0) / n];
}

// Peer: Python cv2 on the same frames and parameters, one pair at a time.
const py = `
import sys, time, numpy as np, cv2
size, n, threads = ${SIZE}, ${n}, int(sys.argv[1])
buf = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(-1, size, size)
cv2.setNumThreads(threads)
p = ${JSON.stringify(TVL1_DEFAULTS)}
tv = cv2.optflow.DualTVL1OpticalFlow_create(p['tau'], p['lambda'], p['theta'], p['scales'], p['warps'], p['epsilon'],
    p['innerIterations'], p['outerIterations'], p['scaleStep'], p['gamma'], p['medianFiltering'], False)
tv.calc(buf[0], buf[1], None)
t0, c0 = time.perf_counter(), time.process_time()
for i in range(n): tv.calc(buf[i], buf[i + 1], None)
print((time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000)
`;
const input = Buffer.concat(frames.map((f) => Buffer.from(f)));
let pythonOk = true;
function python(threads: number): Timing {
  if (!pythonOk) return [NaN, NaN];
  const r = spawnSync('/usr/bin/python3', ['-c', py, String(threads)], { input, encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim().split(' ').map(Number) as Timing;
  console.error(`Python cv2 peer skipped (needs Debian's python3-opencv): ${r.stderr.trim().split('\n').pop()}`);
  pythonOk = false;
  return [NaN, NaN];
}

// The configurations run in turns, `repeats` rounds, so that a change of load on a shared machine hits them all alike.
interface Config {
  impl: string;
  mode: string;
  threads: string;
  run: () => Timing | Promise<Timing>;
}
const configs: Config[] = [];
const variants: Impl[] = [{ impl: 'ours' }];
for (const isa of ['avx2', 'scalar'] as const) if (flowIsa(isa) === isa && flowIsa() !== isa) variants.push({ impl: 'ours', isa });
variants.push({ impl: 'opencv' });
for (const v of variants)
  for (const t of v.impl === 'opencv' ? [1, cores] : [1])
    configs.push({ impl: label(v), mode: 'sync, one pair at a time', threads: String(t), run: () => sync(v, t) });
for (const v of variants)
  if (v.isa !== 'scalar')
    configs.push({
      impl: label(v),
      mode: `flowSequence, ${cores} pairs in flight (all cores busy)`,
      threads: `1 x ${cores} pairs`,
      run: () => parallel(v, 1, cores),
    });
for (const t of [1, cores])
  configs.push({ impl: 'Python cv2', mode: 'sync, one pair at a time', threads: String(t), run: () => python(t) });
const times = configs.map(() => [] as Timing[]);
for (let r = 0; r < repeats; r++) for (const [i, c] of configs.entries()) times[i]!.push(await c.run());
configs.forEach((c, i) => {
  const t = times[i]!;
  if (!Number.isNaN(t[0]![0]))
    rows.push({
      impl: c.impl,
      mode: c.mode,
      threads: c.threads,
      msPerPair: median(t.map((x) => x[0])),
      cpuMsPerPair: median(t.map((x) => x[1])),
    });
});
setFlowThreads(cores);

if (values.torch) {
  for (const threads of [1, cores]) {
    const r = spawnSync('/usr/bin/python3', [join(ROOT, 'bench/peers/tvl1_torch.py'), JSON.stringify({ threads, size: SIZE })], {
      input,
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      console.error(`libtorch-ops TV-L1 skipped (needs Debian's python3-torch): ${r.stderr.trim().split('\n').pop()}`);
      break;
    }
    const o = JSON.parse(r.stdout) as { torch: string; ms: number; cpuMs: number; epe?: number[] };
    const epe = o.epe ? `, EPE vs cv2 ${o.epe.map((e) => e.toFixed(3)).join('/')} px` : '';
    rows.push({
      impl: `TV-L1 in libtorch ops (PyTorch ${o.torch}${epe})`,
      mode: 'sync, one pair at a time, 1 round',
      threads: `${threads} (libtorch's)`,
      msPerPair: o.ms,
      cpuMsPerPair: o.cpuMs,
    });
  }
}

// Endpoint error of ours (each ISA) against OpenCV through the addon, over all pairs: mean and 99th percentile.
const epeRows: string[] = [];
{
  const ref = Array.from({ length: n }, (_, i) => tvl1Flow(frames[i]!, frames[i + 1]!, SIZE, SIZE, {}, { impl: 'opencv' }));
  for (const v of variants.filter((x) => x.impl === 'ours')) {
    const errs: number[] = [];
    for (let i = 0; i < n; i++) {
      const f = tvl1Flow(frames[i]!, frames[i + 1]!, SIZE, SIZE, {}, v);
      for (let j = 0; j < f.length; j += 2) errs.push(Math.hypot(f[j]! - ref[i]![j]!, f[j + 1]! - ref[i]![j + 1]!));
    }
    const mean = errs.reduce((a, b) => a + b, 0) / errs.length;
    errs.sort((a, b) => a - b);
    epeRows.push(
      `| ${label(v)} | ${mean.toFixed(4)} | ${errs[Math.floor(0.99 * (errs.length - 1))]!.toFixed(4)} | ${errs[errs.length - 1]!.toFixed(3)} |`,
    );
  }
}

const facts = flowFacts();
console.log(
  `TV-L1 (OpenCV defaults), ${n} pairs of ${SIZE}x${SIZE} frames from ${values.video} (from frame ${firstFrame}), ${cores} cores, median of ${repeats} rounds, OpenCV ${facts.opencvVersion} (${facts.parallelFramework})\n`,
);
console.log(
  `load average before: ${loadBefore}, after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
console.log('| implementation | mode | threads | ms per pair | pairs per second | CPU ms per pair |');
console.log('| --- | --- | --- | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.impl} | ${r.mode} | ${r.threads} | ${r.msPerPair.toFixed(1)} | ${(1000 / r.msPerPair).toFixed(2)} | ${r.cpuMsPerPair.toFixed(1)} |`,
  );

const cvCpu = rows.find((r) => r.impl === 'OpenCV (addon)' && r.mode.startsWith('sync') && r.threads === '1')?.cpuMsPerPair;
if (cvCpu) {
  console.log('\n| ours | CPU ms per pair, ours / OpenCV (1 thread, sync) |');
  console.log('| --- | ---: |');
  for (const r of rows.filter((x) => x.impl.startsWith('ours') && x.mode.startsWith('sync')))
    console.log(`| ${r.impl} | ${(r.cpuMsPerPair / cvCpu).toFixed(3)} |`);
}
console.log(`\n| endpoint error against OpenCV (${n} pairs) | mean px | p99 px | max px |`);
console.log('| --- | ---: | ---: | ---: |');
for (const e of epeRows) console.log(e);
