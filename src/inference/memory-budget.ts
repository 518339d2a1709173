// How many frames a chunk of whole-video inference may hold under a memory budget (`--max-memory`), from what each
// engine keeps per frame (measured: bench/long-video.ts), and the error when memory runs out anyway.
import { errorClass } from '../core/errors.js';

export const MB = 1024 * 1024;

/** The default budget of whole-video inference: keeps `i3d predict` under about 2 GB at 224x224, any length. */
export const DEFAULT_MAX_MEMORY = 2000 * MB;

/**
 * Bytes per input pixel (per frame, per pixel of height x width) of each engine's activations, measured at 224x224:
 * the fused plan's buffers (reused between layers), and the eager ops' largest layer with its input and output.
 */
const ACTIVATION_BYTES_PER_PIXEL = { fused: 90, eager: 150 } as const;

/** What does not grow with the chunk: Node, libtorch, oneDNN, the weights (and the fused path's folded copy). */
const BASE_BYTES = { fused: 520 * MB, eager: 470 * MB } as const;

export type EngineName = keyof typeof ACTIVATION_BYTES_PER_PIXEL;

/** Estimated bytes one more frame of a chunk costs: the frame held twice (the chunk buffer and the input tensor) and its activations. */
export function bytesPerFrame(engine: EngineName, height: number, width: number, channels: number): number {
  return height * width * (2 * 4 * channels + ACTIVATION_BYTES_PER_PIXEL[engine]);
}

/** Estimated peak bytes of whole-video inference in chunks of `frames` frames. */
export function estimatePeakBytes(engine: EngineName, frames: number, height: number, width: number, channels: number): number {
  return BASE_BYTES[engine] + frames * bytesPerFrame(engine, height, width, channels);
}

/** The most frames a chunk may hold under `budgetBytes` (0 or less when the budget does not cover the base). */
export function framesForBudget(engine: EngineName, budgetBytes: number, height: number, width: number, channels: number): number {
  return Math.floor((budgetBytes - BASE_BYTES[engine]) / bytesPerFrame(engine, height, width, channels));
}

/** Whole-video inference cannot fit (or ran out of) memory. */
export class MemoryBudgetError extends errorClass('MemoryBudgetError', 'I3D_MEMORY_BUDGET') {}

const mb = (bytes: number) => `${Math.ceil(bytes / MB)} MB`;

/**
 * Frames per chunk under a budget, or a MemoryBudgetError naming the budget and what to change when it cannot hold
 * `minFrames` (the fewest that give exact results) of this size. `source` names the input.
 */
export function chunkFramesFor(
  source: string,
  engine: EngineName,
  budgetBytes: number,
  dims: { height: number; width: number; channels: number },
  minFrames: number,
): number {
  const { height, width, channels } = dims;
  const n = framesForBudget(engine, budgetBytes, height, width, channels);
  if (n >= minFrames) return n;
  const need = estimatePeakBytes(engine, minFrames, height, width, channels);
  throw new MemoryBudgetError(
    `${source}: --max-memory ${mb(budgetBytes)} is too small for ${width}x${height} frames on the ${engine} engine: ` +
      `exact whole-video inference runs chunks of at least ${minFrames} frames, about ${mb(need)}; ` +
      `raise --max-memory to ${mb(need)} or more, or use a smaller --size`,
  );
}

/** Whether an error is an allocation failure (libtorch's allocator, std::bad_alloc, a failed typed array). */
export function isOutOfMemory(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /can't allocate memory|bad_alloc|out of memory|Array buffer allocation failed|Invalid typed array length/i.test(m);
}

/** Rethrows `e`, as a MemoryBudgetError naming the chunk, the budget and what to change when it is an allocation failure. */
export function rethrowMemory(
  e: unknown,
  at: { frames: number; height: number; width: number; budgetBytes?: number | undefined; source?: string },
): never {
  if (!isOutOfMemory(e)) throw e;
  const budget = at.budgetBytes === undefined ? 'no budget' : `--max-memory ${mb(at.budgetBytes)}`;
  throw new MemoryBudgetError(
    `${at.source ? `${at.source}: ` : ''}out of memory running a chunk of ${at.frames} frames of ${at.width}x${at.height} ` +
      `(${budget}): lower --max-memory to the memory this machine has free (shorter chunks), or use a smaller --size`,
    { cause: e },
  );
}
