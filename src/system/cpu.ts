// What the CPU can do, for choices that depend on it (bf16 inference).
import { readFileSync } from 'node:fs';

let flags: Set<string> | null = null;

/** The CPU's feature flags (Linux: /proc/cpuinfo; empty elsewhere). */
export function cpuFlags(): Set<string> {
  if (!flags) {
    try {
      const line = readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('flags'));
      flags = new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
    } catch {
      flags = new Set();
    }
  }
  return flags;
}

/** Whether the CPU computes bfloat16 natively (AVX512-BF16, or AMX). */
export function hasBf16(): boolean {
  const f = cpuFlags();
  return f.has('avx512_bf16') || f.has('amx_bf16');
}
