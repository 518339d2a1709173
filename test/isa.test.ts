// The fused and eager inference paths under each instruction set this machine can run, as oneDNN's ISA cap
// (ONEDNN_MAX_CPU_ISA, set before the process starts) makes a bigger CPU behave like a smaller one: the layout
// follows the ISA, no step runs a reference kernel, results match the PyTorch reference, bf16 runs only where
// oneDNN has bf16 kernels. Each cap runs in its own child process (test/isa-child.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuFeatures } from '../src/index.js';
import { BIN, i3dParityFixtures, ROOT } from './helpers.js';

const CASES = ['rgb_top_odd_nonsquare', 'flow_top_224'];
const f = cpuFeatures();

interface CaseResult {
  reason: string | null;
  layout: number | null;
  implementations: string[];
  fusedFeatures: number;
  fusedLogits: number | null;
  eagerFeatures: number;
  eagerLogits: number | null;
  bf16: string;
}
interface ChildResult {
  support: { isa: string; block: number | null; bf16: boolean; cap: string | null };
  warnings: string[];
  [name: string]: unknown;
}

function runUnder(cap: string | null, args: readonly string[] = CASES): ChildResult {
  i3dParityFixtures(); // made once, before the children read it
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.ONEDNN_MAX_CPU_ISA;
  delete env.DNNL_MAX_CPU_ISA;
  delete env.ATEN_CPU_CAPABILITY;
  // libtorch's own vectorised kernels (the eager ops' pools, batch norm, ReLU) follow ATEN_CPU_CAPABILITY.
  if (cap) Object.assign(env, { ONEDNN_MAX_CPU_ISA: cap, ...(cap === 'AVX2' && { ATEN_CPU_CAPABILITY: 'avx2' }) });
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/test/isa-child.js'), ...args], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `child under ${cap ?? 'the native ISA'} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

function check(res: ChildResult, block: number, isa: RegExp): void {
  assert.match(res.support.isa, isa);
  for (const name of CASES) {
    const c = res[name] as CaseResult;
    console.log(
      `${res.support.isa} ${name}: nCdhw${c.layout}c, ${c.implementations.join(' ')}; relative error fused ` +
        `${c.fusedLogits?.toExponential(2)}, eager ${c.eagerLogits?.toExponential(2)}`,
    );
    assert.equal(c.reason, null, 'the fused path runs');
    assert.equal(c.layout, block);
    assert.ok(!c.implementations.some((s) => s.startsWith('ref')), c.implementations.join(', '));
    assert.ok(
      c.implementations.some((s) => s.startsWith('jit')),
      c.implementations.join(', '),
    );
    for (const e of [c.fusedFeatures, c.fusedLogits, c.eagerFeatures, c.eagerLogits])
      assert.ok(e !== null && e <= 1e-4, `relative error ${e}`);
    if (res.support.bf16) assert.equal(c.bf16, 'ok');
    else assert.match(c.bf16, /bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN runs/);
  }
  assert.deepEqual(res.warnings, [], 'no fallback warning');
}

test('ISA native: the fused path takes the layout of the CPU, jit kernels only, matches the reference', () => {
  const res = runUnder(null);
  check(res, res.support.isa.startsWith('avx512') ? 16 : 8, /^(avx2|avx2_vnni|avx512_core.*)$/);
});

test(
  'ISA capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2): 8-channel blocks, jit:avx2 kernels, bf16 refused',
  { skip: !f.avx2 && 'this CPU has no AVX2' },
  () => {
    const res = runUnder('AVX2');
    check(res, 8, /^avx2$/);
    assert.equal(res.support.bf16, false);
    for (const name of CASES) assert.ok((res[name] as CaseResult).implementations.every((s) => !s.includes('avx512')));
  },
);

test('ISA capped at AVX512_CORE: 16-channel blocks, bf16 refused', { skip: !f.avx512f && 'this CPU has no AVX-512' }, () => {
  const res = runUnder('AVX512_CORE');
  check(res, 16, /^avx512_core$/);
  assert.equal(res.support.bf16, false);
});

test('never silently slow: a layout with reference kernels gives way to the other, and none at all to the eager ops, each with one warning', () => {
  // AVX2 has no fast kernels in 16-channel blocks: a plan forced to them is rebuilt in 8.
  if (f.avx2) {
    const res = runUnder('AVX2', ['--fallbacks']);
    const forced = res.forced16 as { layout: number | null; relErr: number };
    assert.equal((res.default as { layout: number }).layout, 8);
    assert.equal(forced.layout, 8);
    assert.ok(forced.relErr < 1e-5, `relative error ${forced.relErr}`);
    assert.equal(res.warnings.length, 1, res.warnings.join('\n'));
    assert.match(
      res.warnings[0]!,
      /oneDNN \(avx2\) has only reference kernels for \d+ steps in 16-channel blocks; using 8-channel blocks instead/,
    );
  }
  // SSE4.1 has fast kernels in neither layout: the eager ops run, with the ISA named.
  const res = runUnder('SSE41', ['--fallbacks']);
  assert.equal(res.support.isa, 'sse41');
  for (const k of ['default', 'forced16']) {
    const r = res[k] as { layout: number | null; relErr: number };
    assert.equal(r.layout, null, `${k}: the eager ops run`);
    assert.equal(r.relErr, 0);
  }
  assert.ok(
    res.warnings.length >= 1 &&
      res.warnings.every((w) =>
        /no fast oneDNN kernels for 8x32x32 clips on this CPU \(it needs AVX2 or AVX-512; oneDNN runs sse41 here: .*\); running the eager ops instead/.test(
          w,
        ),
      ),
    res.warnings.join('\n'),
  );
});

test('createEngine: fused where the CPU and the model allow it; the eager engine with the reason otherwise (SSE4.1 cap, narrow model)', () => {
  type Pick = { kind: string; reason: string | null };
  const native = runUnder(null, ['--factory']);
  const full = native.full as Pick;
  const narrow = native.narrow as Pick;
  console.log(`native ${native.support.isa}: full ${full.kind}; narrow ${narrow.kind} (${narrow.reason})`);
  assert.deepEqual(full, { kind: 'fused', reason: null });
  assert.equal(narrow.kind, 'eager');
  assert.match(narrow.reason ?? '', /Inception branches \(width 0.25\) do not start on multiples of 8 channels/);
  assert.deepEqual(native.warnings, [], 'a model that does not fit falls back without a warning');
  const capped = runUnder('SSE41', ['--factory']);
  const cappedFull = capped.full as Pick;
  console.log(`SSE41: full ${cappedFull.kind} (${cappedFull.reason})`);
  assert.equal(cappedFull.kind, 'eager');
  assert.match(
    cappedFull.reason ?? '',
    /no fast oneDNN kernels for 8x32x32 clips on this CPU \(it needs AVX2 or AVX-512; oneDNN runs sse41 here/,
  );
  assert.equal(capped.warnings.length, 1, capped.warnings.join('\n'));
});

test('the CLI: i3d doctor reports the ISA and layout under a cap; a fallback prints one plain warning line; bf16 exits 1 naming the feature', () => {
  const cli = (cap: string, ...args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ONEDNN_MAX_CPU_ISA: cap }, encoding: 'utf8', timeout: 120_000 });
  if (f.avx2) {
    const d = cli('AVX2', 'doctor', '--json');
    assert.equal(d.status, 0, d.stderr);
    const r = JSON.parse(d.stdout) as { onednn: { isa: string; cap: string }; fused: { engine: string; layout: number; allJit: boolean } };
    assert.deepEqual([r.onednn.isa, r.onednn.cap], ['avx2', 'AVX2']);
    assert.deepEqual([r.fused.engine, r.fused.layout, r.fused.allJit], ['fused', 8, true]);
    const b = cli('AVX2', 'bench', '--precision', 'bf16', '--frames', '8', '--size', '32');
    assert.equal(b.status, 2, 'bf16 is not supported here: a usage error');
    assert.match(b.stderr, /bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN runs avx2 here/);
  }
  const s = cli('SSE41', 'bench', '--frames', '8', '--size', '32', '--runs', '1', '--warmup', '0', '--json');
  assert.equal(s.status, 0, s.stderr);
  assert.equal((JSON.parse(s.stdout) as { engine: string }).engine, 'eager');
  const warnings = s.stderr.split('\n').filter((l) => l.includes('warning'));
  assert.equal(warnings.length, 1, s.stderr);
  assert.match(
    warnings[0]!,
    /^i3d: warning: I3D fused path: no fast oneDNN kernels for 8x32x32 clips on this CPU \(it needs AVX2 or AVX-512; oneDNN runs sse41/,
  );
});
