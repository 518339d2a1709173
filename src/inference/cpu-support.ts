// What oneDNN runs fast on this CPU, for the fused inference path: the blocked layout its kernels want (16 channels a
// block with AVX-512, 8 with AVX2), whether bf16 has kernels, and the one warning that a fallback prints. The ISA is
// oneDNN's own (it honours ONEDNN_MAX_CPU_ISA), never /proc/cpuinfo's: a capped process must choose as the smaller
// CPU would.
import { cpuFeatures } from '../system/cpu.js';
import { onednnFacts, type Block } from '../tensor/plan.js';

export interface CpuSupport {
  /** oneDNN's instruction set here (e.g. 'avx512_core_bf16', 'avx2'). */
  isa: string;
  /** The blocked layout oneDNN has fast kernels for on that ISA, or null when it has none we know of. */
  block: Block | null;
  /** Whether bf16 convolutions run natively (AVX512-BF16 or AMX). */
  bf16: boolean;
  /** Set when ONEDNN_MAX_CPU_ISA (or the older DNNL_MAX_CPU_ISA) caps the ISA below the CPU's. */
  cap: string | null;
}

/** The blocked layout with fast oneDNN kernels on `isa` (16 on AVX-512, 8 on AVX2, AVX and SSE4.1), else null. */
export function blockForIsa(isa: string): Block | null {
  if (isa.startsWith('avx512_core')) return 16;
  if (isa === 'avx2' || isa === 'avx2_vnni' || isa === 'avx' || isa === 'sse41') return 8;
  return null; // avx512_mic (Xeon Phi), or an ISA this oneDNN does not name
}

/** Whether oneDNN has native bf16 kernels on `isa`. */
export function bf16OnIsa(isa: string): boolean {
  return isa === 'avx512_core_bf16' || isa === 'avx512_core_amx';
}

let cached: CpuSupport | null = null;

/** What oneDNN runs fast in this process (read once: the ISA cannot change after oneDNN's first use). */
export function cpuSupport(): CpuSupport {
  if (cached) return cached;
  const { isa, cap } = onednnFacts();
  cached = { isa, block: blockForIsa(isa), bf16: bf16OnIsa(isa), cap };
  return cached;
}

/** The reason bf16 cannot run here, naming the missing CPU feature, or null when it can. */
export function bf16Unsupported(s: CpuSupport = cpuSupport()): string | null {
  if (s.bf16) return null;
  const f = cpuFeatures();
  const capped = (f.avx512_bf16 || f.amx_bf16) && s.cap ? ` (the CPU has it, but ONEDNN_MAX_CPU_ISA=${s.cap} caps oneDNN at ${s.isa})` : '';
  return `bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN runs ${s.isa} here${capped}`;
}

const warned = new Set<string>();

/** Prints `message` once per process (a Node warning of type 'I3DWarning', code I3D_SLOW_PATH). */
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { type: 'I3DWarning', code: 'I3D_SLOW_PATH' });
}
