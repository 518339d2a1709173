// The pieces `trainFromParams` (src/train/run.ts) plugs in when it trains with other ranks: the data shares of
// DistributedSampler, the FitDistributed hooks, rank 0's weights before anything runs, only rank 0 writing, and the
// feature cache filled by every rank (each computes its share, then reads the others').
import type { Module } from '../nn/module.js';
import type { ProcessGroup } from './process-group.js';
import { shardOrder, shardSize } from './sampler.js';
import { broadcastModule } from './ddp.js';
import { DataParallel } from './training.js';

export interface DataParallelHooks {
  /** Rank 0 writes checkpoints, the log, the report and the parameters. */
  writer: boolean;
  fit: DataParallel;
  /** Options for a training / evaluation data split: this rank's share of each epoch. */
  trainSelect: { select: (order: number[]) => number[] };
  evalSelect: { select: (order: number[]) => number[] };
  trainShare(n: number): number;
  evalShare(n: number): number;
  /** Rank 0's parameters and buffers in `model` on every rank. */
  start(model: Module): Promise<void>;
}

export function dataParallelHooks(pg: ProcessGroup, o: { syncBatchNorm?: boolean | undefined }): DataParallelHooks {
  const s = { rank: pg.rank, worldSize: pg.worldSize };
  return {
    writer: pg.rank === 0,
    fit: new DataParallel(pg, { syncBatchNorm: o.syncBatchNorm ?? false }),
    trainSelect: { select: (order) => shardOrder(order, s, true) },
    evalSelect: { select: (order) => shardOrder(order, s, false) },
    trainShare: (n) => shardSize(n, s, true),
    evalShare: (n) => shardSize(n, s, false),
    start: (model) => broadcastModule(pg, model),
  };
}

/**
 * Before an extraction over all `items`: every rank extracts its share (rank r takes every world-size-th item),
 * then waits for the others. The cache is shared and content-addressed, so the run over all items that follows
 * reads the others' shares instead of computing them again.
 */
export async function shareFirst<T>(pg: ProcessGroup, items: readonly T[], run: (share: T[]) => Promise<unknown>): Promise<void> {
  if (pg.worldSize === 1) return;
  await run(items.filter((_, i) => i % pg.worldSize === pg.rank));
  await pg.barrier();
}

/**
 * A distributed extraction: every rank computes its share (`run` with a selector of every world-size-th video),
 * then all wait for each other. Returns how many videos the ranks computed together; rank 0 then runs over all
 * videos (reading the shares from the shared, content-addressed cache) to write the manifest and report.
 */
export async function extractShares(
  pg: ProcessGroup,
  run: (select: <T>(videos: T[]) => T[]) => Promise<{ computed: number }>,
): Promise<number> {
  const mine = await run((videos) => videos.filter((_, i) => i % pg.worldSize === pg.rank));
  await pg.barrier();
  const [computed] = await pg.allReduceNumbers([mine.computed]);
  return computed!;
}
