// How the samples of an epoch are shared among the ranks, as PyTorch's DistributedSampler does: every rank takes
// the same (seeded) order, pads it by repetition to a multiple of the world size, and takes every world-size-th
// sample starting at its rank. Evaluation shares without padding: every sample is seen exactly once.

export interface Shard {
  rank: number;
  worldSize: number;
}

/** The share of `rank`: order padded (by repeating it from the start) to a multiple of worldSize, then strided. */
export function shardOrder(order: readonly number[], s: Shard, pad = true): number[] {
  const { rank, worldSize } = s;
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new RangeError(`shardOrder: 'worldSize' must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new RangeError(`shardOrder: 'rank' must be an integer in [0, ${worldSize}), got ${rank}`);
  const all = [...order];
  if (pad && all.length > 0) {
    const total = Math.ceil(all.length / worldSize) * worldSize;
    for (let i = 0; all.length < total; i++) all.push(order[i % order.length]!);
  }
  const out: number[] = [];
  for (let i = rank; i < all.length; i += worldSize) out.push(all[i]!);
  return out;
}

/** Samples per rank in an epoch: ceil(n / worldSize) with padding, else the rank's own count. */
export function shardSize(n: number, s: Shard, pad = true): number {
  return pad ? Math.ceil(n / s.worldSize) : Math.max(0, Math.ceil((n - s.rank) / s.worldSize));
}
