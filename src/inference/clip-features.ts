// Features (Mixed_5c's mean over time and space) of a batch of clips under a memory budget: clips run together while
// they fit, and a clip too long for the budget runs alone in overlapping temporal chunks (src/inference/chunked.ts),
// which give the features of one pass within float32 rounding. `i3d extract` and `i3d evaluate` go through here.
import { scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import { tensor } from '../tensor/tensor.js';
import { minChunkFrames, runChunked, type ChunkProgress } from './chunked.js';
import type { InferenceEngine } from './engine.js';
import { chunkFramesFor, DEFAULT_MAX_MEMORY, framesForBudget, rethrowMemory } from './memory-budget.js';
import { temporalGeometry } from './receptive-field.js';

export interface ClipFeaturesOptions {
  /** Bytes the model's activations and the clips' copies may use (default DEFAULT_MAX_MEMORY). */
  maxMemory?: number;
  /** Names the input in errors. */
  source?: string;
  /** Progress of a clip that runs in chunks (the clip's index in the batch with it). */
  onChunkProgress?: (clip: number, p: ChunkProgress) => void;
}

/**
 * The features [N x F] (row-major) of clips [N, T, H, W, C] given as one Float32Array, on `engine`, in at most
 * `maxMemory` bytes of model memory.
 */
export async function clipFeatures(
  engine: InferenceEngine,
  data: Float32Array,
  shape: readonly [number, number, number, number, number],
  o: ClipFeaturesOptions = {},
): Promise<Float32Array> {
  const [N, T, H, W, C] = shape;
  const F = engine.model.featureChannels;
  const budget = o.maxMemory ?? DEFAULT_MAX_MEMORY;
  const clipLen = T * H * W * C;
  const out = new Float32Array(N * F);
  const fit = framesForBudget(engine.kind, budget, H, W, C);
  if (fit >= T) {
    // Whole clips, as many at once as the budget holds.
    const per = Math.max(1, Math.floor(fit / T));
    for (let i = 0; i < N; i += per) {
      const n = Math.min(per, N - i);
      try {
        const f = await scope(async () => {
          const map = await engine.featureMap(tensor(data.subarray(i * clipLen, (i + n) * clipLen), [n, T, H, W, C]));
          return (await ops.mean.async(map, [2, 3, 4])).data() as Float32Array;
        });
        out.set(f, i * F);
      } catch (e) {
        rethrowMemory(e, { frames: n * T, height: H, width: W, budgetBytes: budget, ...(o.source ? { source: o.source } : {}) });
      }
    }
    return out;
  }
  // A clip longer than the budget holds: its frames in overlapping chunks.
  const g = temporalGeometry(engine.model, T);
  const chunkFrames = chunkFramesFor(o.source ?? 'a clip', engine.kind, budget, { height: H, width: W, channels: C }, minChunkFrames(g));
  const frameLen = H * W * C;
  for (let i = 0; i < N; i++) {
    const frames = Array.from({ length: T }, (_, t) => data.subarray(i * clipLen + t * frameLen, i * clipLen + (t + 1) * frameLen));
    const r = await runChunked(
      engine,
      frames,
      { frames: T, height: H, width: W },
      { chunkFrames, budgetBytes: budget, ...(o.onChunkProgress ? { onProgress: (p: ChunkProgress) => o.onChunkProgress!(i, p) } : {}) },
    );
    out.set(r.features, i * F);
  }
  return out;
}
