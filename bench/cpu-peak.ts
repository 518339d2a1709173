// bench/cpu-peak: the CPU's peak fp32 (AVX2 and AVX-512 FMA) and bf16 (AVX512-BF16 dot product) GFLOP/s per core and
// with every core busy, from native/tools/cpu-peak.c compiled here with the system's C compiler (each measured only
// where the CPU has it). It says how fast bf16 can be at best next to fp32 on this machine (on some CPUs vdpbf16ps
// issues at half the rate of fp32 FMAs, so bf16 convolutions cannot beat fp32 ones however they are written), and
// the AVX2 roofline: no implementation of I3D can beat it on an AVX2-only CPU (or under ONEDNN_MAX_CPU_ISA=AVX2).
// Usage: node dist/bench/cpu-peak.js [--json]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './common.js';

interface Peak {
  fp32Avx2: number | null;
  fp32: number | null;
  bf16: number | null;
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

const dir = mkdtempSync(join(tmpdir(), 'i3d-cpu-peak-'));
try {
  const exe = join(dir, 'cpu-peak');
  const cc = spawnSync('cc', ['-O3', join(ROOT, 'native/tools/cpu-peak.c'), '-o', exe], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  const one = await run(exe);
  const cores = availableParallelism();
  const all = await Promise.all(Array.from({ length: cores }, () => run(exe)));
  const sum = (k: keyof Peak) => (one[k] === null ? null : all.reduce((s, r) => s + r[k]!, 0));
  const r = { cores, oneCore: one, allCores: { fp32Avx2: sum('fp32Avx2'), fp32: sum('fp32'), bf16: sum('bf16') } };
  if (values.json) console.log(JSON.stringify(r));
  else {
    const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(1));
    console.log('| peak GFLOP/s | fp32 FMA, AVX2 (256-bit) | fp32 FMA, AVX-512 | bf16 dot product, AVX512-BF16 | bf16 / fp32 AVX-512 |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [name, p] of [
      ['one core', r.oneCore],
      [`${cores} cores`, r.allCores],
    ] as const)
      console.log(
        `| ${name} | ${f(p.fp32Avx2)} | ${f(p.fp32)} | ${f(p.bf16)} | ${p.bf16 && p.fp32 ? (p.bf16 / p.fp32).toFixed(2) : 'n/a'} |`,
      );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
