// What `i3d doctor` says of the fused inference path on this CPU: it builds a probe plan for a full-width I3D (random
// weights, 8 x 64 x 64 clips) through the same choice as inference (createEngine) and reports its layout and kernels.
import { I3D } from '../models/i3d.js';
import { bf16Unsupported } from './cpu-support.js';
import { createEngine } from './engine.js';

export interface FusedPathReport {
  /** 'fused' when a full I3D runs on the fused path here, else 'eager'. */
  engine: 'fused' | 'eager';
  /** Channels per block of the plan's layout (16: nCdhw16c, 8: nCdhw8c), null when the eager ops run. */
  layout: 8 | 16 | null;
  /** Whether every step of a probe plan has a jit (fast) kernel. */
  allJit: boolean;
  /** oneDNN's implementations in the probe plan, each with its count. */
  kernels: Record<string, number>;
  /** Why the eager ops run, when they do. */
  reason: string | null;
  /** Whether bf16 inference can run here, or why not. */
  bf16: string;
}

export function fusedPathReport(): FusedPathReport {
  const model = new I3D({ includeTop: false }).eval();
  const bf16 = bf16Unsupported();
  const bf16Text = bf16 ? `no: ${bf16}` : 'yes (native AVX512-BF16/AMX kernels): --precision bf16';
  try {
    const fused = createEngine(model);
    if (fused.kind === 'eager') return { engine: 'eager', layout: null, allJit: false, kernels: {}, reason: fused.reason, bf16: bf16Text };
    try {
      const [t, h, w] = [8, 64, 64];
      const layout = fused.layout(t, h, w);
      const impl = fused.implementations(t, h, w).filter((s) => !s.startsWith('reorder'));
      const kernels: Record<string, number> = {};
      for (const s of impl) kernels[s] = (kernels[s] ?? 0) + 1;
      return {
        engine: layout === null ? 'eager' : 'fused',
        layout,
        allJit: impl.length > 0 && impl.every((s) => !s.startsWith('ref')),
        kernels,
        reason: layout === null ? 'no layout has fast kernels on this CPU' : null,
        bf16: bf16Text,
      };
    } finally {
      fused.dispose();
    }
  } finally {
    model.dispose();
  }
}
