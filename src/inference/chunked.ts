// Whole-video I3D inference in bounded memory: the video runs through the network in overlapping temporal chunks,
// and from each chunk only the Mixed_5c steps whose receptive field lies inside the chunk (or reaches past it only
// at the video's true ends) are kept, so the feature map, the features and the logits equal one pass over the whole
// video (the official evaluation) within float32 rounding.
//
// Why the chunks are placed as they are: TensorFlow 'SAME' padding of a stride-2 layer depends on the parity of its
// input's length, so the grid of output steps of the one-pass model depends on the video's length modulo the total
// stride (8). A chunk that starts on a multiple of 8 frames and whose length equals the video's modulo 8 has every
// layer's grid aligned with the one-pass model's, the same padding at the video's ends (its first and last chunks),
// and only zeros or -inf instead of real frames at its inner edges, whose steps are dropped.
// Frames stream in from the decoder (or the flow): at most one chunk of frames is held, plus the chunk being run.
import type { I3D } from '../models/i3d.js';
import * as F from '../nn/functional.js';
import { noGrad, scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import type { InferenceEngine } from './engine.js';
import { rethrowMemory } from './memory-budget.js';
import { receptiveRange, temporalGeometry, type TemporalGeometry } from './receptive-field.js';
import { I3DError } from '../core/errors.js';
import { ArgumentError } from '../tensor/validate.js';

/** A chunk of the video: frames [start, end), of whose output steps `keep` are kept from `skip` on. */
export interface Chunk {
  start: number;
  end: number;
  /** Output steps of the chunk dropped before the kept ones. */
  skip: number;
  /** Output steps kept. */
  keep: number;
  /** The first kept step, in the whole video's steps. */
  first: number;
}

/** `frames` rounded down to the video's length modulo the total stride (what keeps a chunk's grid aligned). */
export function alignedChunkFrames(g: TemporalGeometry, frames: number): number {
  const r = (((frames - g.frames) % g.stride) + g.stride) % g.stride;
  return frames - r;
}

/** The fewest frames a chunk may have for `g` so that every chunk keeps at least one step (aligned). */
export function minChunkFrames(g: TemporalGeometry): number {
  // A chunk starts up to stride * ceil(padBefore / stride) frames before its first kept step's stride cell and must
  // reach the end of that step's receptive field.
  const need = g.stride * Math.ceil(g.padBefore / g.stride) + g.receptive - g.padBefore;
  return Math.min(g.frames, alignedChunkFrames(g, need + g.stride - 1));
}

/**
 * The chunks of a video of `g.frames` frames run `chunkFrames` at a time (at most; rounded down to the alignment).
 * One chunk when the video fits. Throws an ArgumentError when chunks that short cannot keep any exact step.
 */
export function planChunks(g: TemporalGeometry, chunkFrames: number): Chunk[] {
  const T = g.frames;
  const L = alignedChunkFrames(g, chunkFrames);
  if (L >= T) return [{ start: 0, end: T, skip: 0, keep: g.outputs, first: 0 }];
  if (L < minChunkFrames(g))
    throw new ArgumentError(`planChunks: chunks of ${chunkFrames} frames are too short; the fewest is ${minChunkFrames(g)}`);
  const chunks: Chunk[] = [];
  let next = 0;
  while (next < g.outputs) {
    // The latest start (a multiple of the stride) at which step `next` still sees no padding at the chunk's start.
    const start = next === 0 ? 0 : Math.max(0, g.stride * Math.floor(receptiveRange(g, next)[0] / g.stride));
    const end = Math.min(T, start + L);
    // The last step whose receptive field ends inside the chunk (all of them in the last chunk).
    let last = end === T ? g.outputs - 1 : Math.floor((end - g.receptive + g.padBefore) / g.stride);
    last = Math.min(last, g.outputs - 1);
    if (last < next) throw new I3DError('I3D_INTERNAL', `planChunks: a chunk of ${end - start} frames keeps no step (internal error)`);
    chunks.push({ start, end, skip: next - start / g.stride, keep: last - next + 1, first: next });
    next = last + 1;
  }
  return chunks;
}

/** Mixed_5c's map of clips [B, T, H, W, C] on the eager ops, each layer's input freed once the layer has run. */
export function eagerFeatureMap(model: I3D, clips: Tensor): Tensor {
  return model.evaluating(() => {
    let h = model.inputView(clips);
    for (let i = 0; i < model.layers.length; i++) {
      const prev = h;
      h = scope(() => model.forwardLayer(i, prev));
      if (i > 0) prev.dispose();
    }
    return h;
  });
}

/**
 * The head's logits per pair of consecutive steps of a map [1, C, t, h, w]: AvgPool (kt, 7, 7) 'VALID', the 1x1x1
 * logits convolution, the mean over space: rows [t - kt + 1][classes]. The one-pass head is their mean. Off the
 * JavaScript thread.
 */
export async function stepLogits(model: I3D, map: Tensor, kt: 1 | 2): Promise<Float32Array[]> {
  if (!model.logitsWeight) throw new I3DError('I3D_BAD_MODEL', 'stepLogits: the model was built without its top (includeTop: false)');
  const w = model.logitsWeight;
  const bias = model.logitsBias;
  const flat = await noGrad(() =>
    scope(async () => {
      const [, , , h, wd] = map.shape as [number, number, number, number, number];
      const pooled = await F.avgPool3d.async(map, [kt, Math.min(7, h), Math.min(7, wd)], { stride: 1 });
      const z = await F.conv3d.async(pooled, w, { bias });
      const m = await ops.mean.async(z, [3, 4]); // [1, classes, t']
      // [t', classes]: one row per pair, contiguous, so each row is a view of one copy
      const rows = await ops.contiguous.async(m.squeeze(0).transpose(0, 1));
      return { shape: rows.shape as [number, number], data: rows.data() as Float32Array };
    }),
  );
  const [steps, classes] = flat.shape;
  return Array.from({ length: steps }, (_, t) => flat.data.slice(t * classes, (t + 1) * classes));
}

export interface ChunkProgress {
  /** Frames received from the source so far. */
  frames: number;
  totalFrames: number;
  /** Chunks run so far. */
  chunks: number;
  totalChunks: number;
}

export interface ChunkedOptions {
  /** Frames per chunk at most (see planChunks); default: the whole video in one chunk. */
  chunkFrames?: number;
  /** Each chunk's kept part of the map [1, C, keep, h, w] and its first step in the video (the map is freed after). */
  onFeatureMap?: (map: Tensor, first: number) => void;
  /** After each chunk and every 25 frames. */
  onProgress?: (p: ChunkProgress) => void;
  /** What the memory budget was (named in out-of-memory errors). */
  budgetBytes?: number;
}

export interface ChunkedResult {
  /** Frames of the video. */
  frames: number;
  /** Mixed_5c steps of the video. */
  steps: number;
  chunks: number;
  /** Mixed_5c's map averaged over time and space [C]. */
  features: Float32Array;
  /** The one-pass logits (null without a top). */
  logits: Float32Array | null;
  /** The head's logits per pair of consecutive steps (one row when the map has one step); null without a top. */
  stepLogits: Float32Array[] | null;
  /** Frames per chunk (after alignment); the last chunk may be shorter. */
  chunkFrames: number;
}

/** Means of rows (float64 sums). */
export function meanRows(rows: readonly Float32Array[], from = 0, to = rows.length): Float32Array {
  const n = rows[0]!.length;
  const acc = new Float64Array(n);
  for (let t = from; t < to; t++) for (let c = 0; c < n; c++) acc[c] += rows[t]![c]!;
  return Float32Array.from(acc, (x) => x / (to - from));
}

/**
 * Runs `engine`'s model over a video of `dims.frames` frames coming from `source`, one Float32Array of height x width
 * x channels values (in [-1, 1]) per frame, in chunks of at most `chunkFrames`; the model runs off the JavaScript
 * thread while the next chunk's frames come in.
 */
export async function runChunked(
  engine: InferenceEngine,
  source: AsyncIterable<Float32Array> | Iterable<Float32Array>,
  dims: { frames: number; height: number; width: number },
  o: ChunkedOptions = {},
): Promise<ChunkedResult> {
  const { frames: T, height: H, width: W } = dims;
  const model = engine.model;
  const C = model.inChannels;
  const g = temporalGeometry(model, T);
  const chunks = planChunks(g, o.chunkFrames ?? T);
  const L = Math.max(...chunks.map((c) => c.end - c.start));
  const frameLen = H * W * C;
  const buf = new Float32Array(L * frameLen);
  let bufStart = 0; // the video frame at buf[0]
  let received = 0;
  let done = 0;
  const it = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as
    AsyncIterator<Float32Array> | Iterator<Float32Array>;
  const progress = () => o.onProgress?.({ frames: received, totalFrames: T, chunks: done, totalChunks: chunks.length });

  const fill = async (end: number) => {
    while (received < end) {
      const r = await it.next();
      if (r.done) throw new ArgumentError(`runChunked: the source ended after ${received} frames, expected ${T}`);
      if (r.value.length !== frameLen)
        throw new ArgumentError(`runChunked: frame ${received} has ${r.value.length} values, expected ${H}x${W}x${C} = ${frameLen}`);
      buf.set(r.value, (received - bufStart) * frameLen);
      received++;
      if (received % 25 === 0) progress();
    }
  };

  const features = new Float64Array(model.featureChannels);
  const rows: Float32Array[] | null = model.includeTop ? [] : null;
  let prevLast: Tensor | null = null; // the last kept step of the previous chunk: the head pools pairs across chunks
  const kt: 1 | 2 = g.outputs >= 2 ? 2 : 1;

  const consume = (map: Tensor, c: Chunk) =>
    scope(async () => {
      const kept = map.narrow(2, c.skip, c.keep);
      o.onFeatureMap?.(kept, c.first);
      const m = (await ops.mean.async(kept, [0, 3, 4])).data() as Float32Array; // [C, keep]
      for (let ch = 0; ch < features.length; ch++) for (let t = 0; t < c.keep; t++) features[ch] += m[ch * c.keep + t]!;
      if (rows) {
        const withPrev = prevLast ? await ops.cat.async([prevLast, kept], 2) : kept;
        if (withPrev.shape[2]! >= kt) rows.push(...(await stepLogits(model, withPrev, kt)));
        prevLast?.dispose();
        prevLast = (await ops.contiguous.async(kept.narrow(2, c.keep - 1, 1))).keep();
      }
    });

  const run = async (x: Tensor, c: Chunk): Promise<void> => {
    try {
      const map = await engine.featureMap(x);
      try {
        await consume(map, c);
      } finally {
        map.dispose();
      }
    } catch (e) {
      rethrowMemory(e, { frames: c.end - c.start, height: H, width: W, budgetBytes: o.budgetBytes });
    } finally {
      x.dispose();
    }
    done++;
    progress();
  };

  let pending: Promise<Error | null> | null = null;
  const settle = async () => {
    const e = pending ? await pending : null;
    pending = null;
    if (e) throw e;
  };
  try {
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      await fill(c.end);
      await settle();
      const len = c.end - c.start;
      // A shorter last chunk has another plan: free the first one's buffers before it is built.
      if (i > 0 && len !== chunks[i - 1]!.end - chunks[i - 1]!.start) engine.releasePlans();
      let x: Tensor;
      try {
        x = tensor(buf.subarray(0, len * frameLen), [1, len, H, W, C]); // copied natively
      } catch (e) {
        rethrowMemory(e, { frames: len, height: H, width: W, budgetBytes: o.budgetBytes });
      }
      pending = run(x, c).then(
        () => null,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      // Keep the frames the next chunk shares with this one at the front; the source fills the rest meanwhile.
      const next = chunks[i + 1];
      if (next) {
        buf.copyWithin(0, (next.start - bufStart) * frameLen, (c.end - bufStart) * frameLen);
        bufStart = next.start;
      }
    }
    await settle();
  } finally {
    if (pending) await pending;
    (prevLast as Tensor | null)?.dispose();
    await it.return?.();
  }
  return {
    frames: T,
    steps: g.outputs,
    chunks: chunks.length,
    features: Float32Array.from(features, (x) => x / g.outputs),
    logits: rows ? meanRows(rows) : null,
    stepLogits: rows,
    chunkFrames: L,
  };
}
