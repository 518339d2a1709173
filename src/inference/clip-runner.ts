// Runs an I3D on clips for inference: the fused path (src/inference/i3d-plan.ts) where the model allows it, off the
// JavaScript thread, else the eager ops (models on a GPU, narrow widths).
import type { I3D } from '../models/i3d.js';
import { scope } from '../tensor/context.js';
import type { Precision } from '../tensor/plan.js';
import { tensor } from '../tensor/tensor.js';
import { clipLogits } from './classify.js';
import type { I3DClip } from './clip-input.js';
import { FusedI3D, fusedUnsupported } from './i3d-plan.js';

export interface InferenceOptions {
  /** 'fp32' (default) or 'bf16' (the fused path on CPUs with AVX512-BF16). */
  precision?: Precision;
  /** 'fused' (default, where the model allows it) or 'eager' (the training path's ops, fp32). */
  engine?: 'fused' | 'eager';
}

export class ClipRunner {
  readonly fused: FusedI3D | null;

  /** Takes ownership of `model` (dispose() frees it; so does a constructor that throws). */
  constructor(
    readonly model: I3D,
    o: InferenceOptions = {},
  ) {
    try {
      this.fused = ClipRunner.#fusedFor(model, o);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  static #fusedFor(model: I3D, o: InferenceOptions): FusedI3D | null {
    const precision = o.precision ?? 'fp32';
    if (o.engine === 'eager') {
      if (precision !== 'fp32') throw new Error(`precision ${precision} needs the fused engine (the eager ops run fp32)`);
      return null;
    }
    const why = fusedUnsupported(model, precision);
    if (why && precision !== 'fp32') throw new Error(`precision ${precision}: ${why}`);
    return why ? null : new FusedI3D(model, { precision });
  }

  /** The logits of a clip [1, T, H, W, C]. */
  logits(clip: I3DClip): Promise<number[]> {
    return scope(async () => {
      const x = tensor(clip.data, clip.shape);
      if (!this.fused) return clipLogits(this.model, x);
      if (!this.model.includeTop) return clipLogits(this.model, x); // its error message
      const map = await this.fused.featureMapAsync(x);
      return this.fused.outputs(map).logits!.narrow(0, 0, 1).toArray();
    });
  }

  dispose(): void {
    this.fused?.dispose();
    this.model.dispose();
  }
}
