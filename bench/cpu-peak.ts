// bench/cpu-peak: the CPU's peak fp32 (AVX-512 FMA) and bf16 (AVX512-BF16 dot product) GFLOP/s per core and with
// every core busy, from native/tools/cpu-peak.c compiled here with the system's C compiler. It says how fast bf16 can
// be at best next to fp32 on this machine (on some CPUs vdpbf16ps issues at half the rate of fp32 FMAs, so bf16
// convolutions cannot beat fp32 ones however they are written).
// Usage: node dist/bench/cpu-peak.js [--json]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hasBf16 } from '../src/system/cpu.js';
import { ROOT } from './common.js';

interface Peak {
  fp32: number;
  bf16: number;
}

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });

function run(exe: string): Promise<Peak> {
  return new Promise((resolve, reject) => {
    const p = spawn(exe, [], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Peak) : reject(new Error(`${exe} exited with ${code}`))));
  });
}

if (!hasBf16()) {
  console.log('this CPU has no AVX512-BF16: nothing to compare');
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'i3d-cpu-peak-'));
try {
  const exe = join(dir, 'cpu-peak');
  const cc = spawnSync('cc', ['-O3', '-mavx512f', '-mavx512bf16', join(ROOT, 'native/tools/cpu-peak.c'), '-o', exe], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  const one = await run(exe);
  const cores = availableParallelism();
  const all = await Promise.all(Array.from({ length: cores }, () => run(exe)));
  const sum = (k: keyof Peak) => all.reduce((s, r) => s + r[k], 0);
  const r = { cores, oneCore: { fp32: one.fp32, bf16: one.bf16 }, allCores: { fp32: sum('fp32'), bf16: sum('bf16') } };
  if (values.json) console.log(JSON.stringify(r));
  else {
    console.log('| peak GFLOP/s | fp32 FMA | bf16 dot product | bf16 / fp32 |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [name, p] of [
      ['one core', r.oneCore],
      [`${cores} cores`, r.allCores],
    ] as const)
      console.log(`| ${name} | ${p.fp32.toFixed(1)} | ${p.bf16.toFixed(1)} | ${(p.bf16 / p.fp32).toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
