// What the CPU can do (Linux: /proc/cpuinfo), for `i3d doctor` and for choices that depend on it (bf16 inference).
import { readFileSync } from 'node:fs';

const FEATURES: Record<string, string> = {
  avx2: 'avx2',
  fma: 'fma',
  avx512f: 'avx512f',
  avx512_vnni: 'avx512_vnni',
  avx512_bf16: 'avx512_bf16',
  amx_bf16: 'amx_bf16',
  neon: 'asimd',
};

/** Which of the features that matter here the CPU has (all false where /proc/cpuinfo cannot be read). */
export function cpuFeatures(cpuinfo?: string): Record<string, boolean> {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const flags = new Set((/^(flags|Features)\s*:\s*(.*)$/m.exec(text)?.[2] ?? '').split(/\s+/));
  return Object.fromEntries(Object.entries(FEATURES).map(([name, flag]) => [name, flags.has(flag)]));
}

/**
 * Whether the CPU has bfloat16 instructions (AVX512-BF16 or AMX), as /proc/cpuinfo says. What inference can use is
 * `cpuSupport().bf16` (src/inference/cpu-support.ts): oneDNN's own ISA, which ONEDNN_MAX_CPU_ISA may cap below this.
 */
export function hasBf16(): boolean {
  const f = cpuFeatures();
  return f.avx512_bf16 === true || f.amx_bf16 === true;
}
