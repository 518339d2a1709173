// bench/conv3d: GFLOP/s of our conv3d (fp32, bf16) next to PyTorch eager on the same shapes, in one run.
// Usage: node dist/bench/conv3d.js [--repeats N] [--threads N]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { F, getNumThreads, manualSeed, noGrad, ops, scope, setNumThreads } from '../src/index.js';
import { findPythonTorch } from '../src/system/python.js';
import { ROOT } from './common.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '5' }, threads: { type: 'string' } } });
const repeats = Number(values.repeats);
if (values.threads) setNumThreads(Number(values.threads));
const threads = getNumThreads();

interface Case {
  name: string;
  x: number[];
  w: number[];
  stride: number[];
  padding: number[];
}
// Convolutions of I3D's shapes (batch 1, 16 frames for the inner layers).
const CASES: Case[] = [
  { name: 'Conv3d_1a_7x7 3->64 s2, 32x224x224', x: [1, 3, 32, 224, 224], w: [64, 3, 7, 7, 7], stride: [2, 2, 2], padding: [3, 3, 3] },
  { name: 'Conv3d_2c_3x3 64->192, 16x56x56', x: [1, 64, 16, 56, 56], w: [192, 64, 3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1] },
  { name: 'Mixed 3x3x3 96->128, 16x28x28', x: [1, 96, 16, 28, 28], w: [128, 96, 3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1] },
  { name: 'Mixed 1x1x1 480->192, 8x28x28', x: [1, 480, 8, 28, 28], w: [192, 480, 1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0] },
];
const DTYPES = ['float32', 'bfloat16'] as const;

function gflop(c: Case): number {
  const out = [2, 3, 4].map((i) => Math.floor((c.x[i]! + 2 * c.padding[i - 2]! - c.w[i]!) / c.stride[i - 2]!) + 1);
  return (2 * c.x[0]! * c.w[0]! * out.reduce((a, b) => a * b, 1) * c.w[1]! * c.w[2]! * c.w[3]! * c.w[4]!) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ours(c: Case, dtype: (typeof DTYPES)[number]): number {
  return scope(() =>
    noGrad(() => {
      manualSeed(0);
      const x = ops.randn(c.x).to(dtype);
      const w = ops.randn(c.w).to(dtype);
      const run = () => F.conv3d(x, w, { stride: c.stride, padding: c.padding }).dispose();
      run();
      run();
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const t0 = performance.now();
        run();
        times.push(performance.now() - t0);
      }
      return median(times);
    }),
  );
}

const py = findPythonTorch();
let peer: Map<string, number> | null = null;
let peerNote = '';
if (!py) peerNote = 'PyTorch peer skipped: no python3 with torch (sudo apt-get install python3-torch)';
else {
  const cfg = { threads, repeats, cases: CASES.flatMap((c) => DTYPES.map((dtype) => ({ ...c, dtype }))) };
  const r = spawnSync(py.python, [join(ROOT, 'bench/peers/conv3d_torch.py'), JSON.stringify(cfg)], {
    encoding: 'utf8',
    timeout: 1_800_000,
  });
  if (r.status !== 0) peerNote = `PyTorch peer failed: ${r.stderr.trim().split('\n').pop()}`;
  else {
    const out = JSON.parse(r.stdout) as { torch: string; results: { name: string; dtype: string; ms: number }[] };
    peer = new Map(out.results.map((x) => [`${x.name}|${x.dtype}`, x.ms]));
    peerNote = `PyTorch ${out.torch} (${py.python}), same threads`;
  }
}

console.log(`conv3d, ${threads} threads, median of ${repeats} runs after 2 warm-up runs`);
console.log('| shape | dtype | GFLOP | ours ms | ours GFLOP/s | PyTorch ms | PyTorch GFLOP/s | ours / PyTorch speed |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const c of CASES) {
  for (const dtype of DTYPES) {
    const g = gflop(c);
    const ms = ours(c, dtype);
    const p = peer?.get(`${c.name}|${dtype}`);
    const cells = p === undefined ? ['-', '-', '-'] : [p.toFixed(1), (g / (p / 1000)).toFixed(1), (p / ms).toFixed(2)];
    console.log(`| ${c.name} | ${dtype} | ${g.toFixed(2)} | ${ms.toFixed(1)} | ${(g / (ms / 1000)).toFixed(1)} | ${cells.join(' | ')} |`);
  }
}
console.log(peerNote);
