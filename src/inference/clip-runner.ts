// Runs an I3D on clips and whole videos for inference, on the engine createEngine picks (src/inference/engine.ts),
// off the JavaScript thread.
import type { I3D } from '../models/i3d.js';
import { scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import type { I3DClip } from './clip-input.js';
import { minChunkFrames, runChunked, type ChunkedResult, type ChunkProgress } from './chunked.js';
import { createEngine, type EngineOptions, type InferenceEngine } from './engine.js';
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
  readonly engine: InferenceEngine;

  /** Takes ownership of `model` (dispose() frees it; so does a constructor that throws). */
  constructor(
    readonly model: I3D,
    o: InferenceOptions = {},
  ) {
    try {
      this.engine = createEngine(model, o);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  #noTop(): Error {
    return new I3DError(
      'I3D_BAD_MODEL',
      `I3D.predict: this ${this.model.stream} model has no top (logits layer); load weights with their top`,
    );
  }

  /** The logits of a clip [1, T, H, W, C]. */
  async logits(clip: I3DClip): Promise<number[]> {
    return (await this.outputs(clip)).logits;
  }

  /** The logits [classes] and features [1024] (the mean of Mixed_5c) of a clip [1, T, H, W, C]. */
  outputs(clip: I3DClip): Promise<{ logits: number[]; features: number[] }> {
    if (!this.model.includeTop) return Promise.reject(this.#noTop());
    return scope(async () => {
      const out = await this.engine.outputs(tensor(clip.data, clip.shape));
      return { logits: out.logits!.narrow(0, 0, 1).toArray(), features: out.features.narrow(0, 0, 1).toArray() };
    });
  }

  /**
   * A whole video in overlapping chunks sized by the memory budget: the features, the logits (one pass's, within
   * float32 rounding) and the head's logits per pair of steps (for windows).
   */
  streamed(input: FrameSource, o: StreamedOptions = {}): Promise<ChunkedResult> {
    if (!this.model.includeTop) throw this.#noTop();
    const g = temporalGeometry(this.model, input.frames);
    const budget = o.maxMemory ?? DEFAULT_MAX_MEMORY;
    const dims = { height: input.height, width: input.width, channels: this.model.inChannels };
    const chunkFrames = chunkFramesFor(input.file, this.engine.kind, budget, dims, minChunkFrames(g));
    return runChunked(this.engine, input.source, input, {
      chunkFrames,
      budgetBytes: budget,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  }

  dispose(): void {
    this.engine.dispose();
    this.model.dispose();
  }
}
