// Runs an I3D on clips for inference: the fused path (src/inference/i3d-plan.ts) where the model allows it, off the
// JavaScript thread, else the eager ops (models on a GPU, narrow widths).
import type { I3D } from '../models/i3d.js';
import { scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { clipLogits } from './classify.js';
import type { I3DClip } from './clip-input.js';
import { minChunkFrames, runChunked, type ChunkedResult, type ChunkProgress } from './chunked.js';
import { chooseEngine, type EngineOptions, type FusedI3D } from './i3d-plan.js';
import { chunkFramesFor, DEFAULT_MAX_MEMORY } from './memory-budget.js';
import { temporalGeometry } from './receptive-field.js';
import { I3DError } from '../core/errors.js';

/** Frames of one video for a stream, counted, coming one at a time (src/video/stream-frames.ts, or a clip's frames). */
export interface FrameSource {
  /** Names the input in errors. */
  file: string;
  frames: number;
  height: number;
  width: number;
  source: AsyncIterable<Float32Array> | Iterable<Float32Array>;
}

export interface StreamedOptions {
  /** Bytes the chunks may use (default DEFAULT_MAX_MEMORY): sets the frames per chunk. */
  maxMemory?: number;
  onProgress?: (p: ChunkProgress) => void;
}

export type InferenceOptions = EngineOptions;

export class ClipRunner {
  readonly fused: FusedI3D | null;

  /** Takes ownership of `model` (dispose() frees it; so does a constructor that throws). */
  constructor(
    readonly model: I3D,
    o: InferenceOptions = {},
  ) {
    try {
      this.fused = chooseEngine(model, o).fused;
    } catch (e) {
      model.dispose();
      throw e;
    }
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

  /** The logits [classes] and features [1024] (the mean of Mixed_5c) of a clip [1, T, H, W, C]. */
  outputs(clip: I3DClip): Promise<{ logits: number[]; features: number[] }> {
    return scope(async () => {
      const x = tensor(clip.data, clip.shape);
      if (!this.model.includeTop)
        throw new I3DError('I3D_BAD_MODEL', `I3D.predict: this ${this.model.stream} model has no top (logits layer)`);
      const out = this.fused ? this.fused.outputs(await this.fused.featureMapAsync(x)) : this.model.evaluating(() => this.model.forward(x));
      return { logits: out.logits!.narrow(0, 0, 1).toArray(), features: out.features.narrow(0, 0, 1).toArray() };
    });
  }

  /**
   * A whole video in overlapping chunks sized by the memory budget: the features, the logits (one pass's, within
   * float32 rounding) and the head's logits per pair of steps (for windows).
   */
  streamed(input: FrameSource, o: StreamedOptions = {}): Promise<ChunkedResult> {
    if (!this.model.includeTop)
      throw new I3DError(
        'I3D_BAD_MODEL',
        `I3D.predict: this ${this.model.stream} model has no top (logits layer); load weights with their top`,
      );
    const g = temporalGeometry(this.model, input.frames);
    const budget = o.maxMemory ?? DEFAULT_MAX_MEMORY;
    const dims = { height: input.height, width: input.width, channels: this.model.inChannels };
    const chunkFrames = chunkFramesFor(input.file, this.fused ? 'fused' : 'eager', budget, dims, minChunkFrames(g));
    return runChunked(this.model, this.fused, input.source, input, {
      chunkFrames,
      budgetBytes: budget,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  }

  dispose(): void {
    this.fused?.dispose();
    this.model.dispose();
  }
}
