// What `fit` needs to train data-parallel (the FitDistributed hooks of src/train/fit.ts), on a process group:
// rank 0's state broadcast at the start, gradients averaged after each backward, sums and evaluation results
// reduced so that every rank reports the same numbers and every validation sample counts exactly once.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { broadcastModule, convertSyncBatchNorm, DEFAULT_BUCKET_BYTES, GradientSync } from './ddp.js';
import type { ProcessGroup } from './process-group.js';

export interface DataParallelOptions {
  /** Batch norm with the statistics of the global batch (default false: per rank, as DDP). */
  syncBatchNorm?: boolean;
  bucketBytes?: number;
}

export class DataParallel {
  #sync: GradientSync | null = null;
  #restoreBn: (() => void) | null = null;
  #buffers: Tensor[] = [];

  constructor(
    readonly pg: ProcessGroup,
    readonly options: DataParallelOptions = {},
  ) {}

  get rank(): number {
    return this.pg.rank;
  }
  get worldSize(): number {
    return this.pg.worldSize;
  }

  /** Rank 0's parameters and buffers everywhere; gradient hooks on `params`; SyncBatchNorm when asked. */
  async start(model: Module, params: Tensor[]): Promise<void> {
    this.close();
    await broadcastModule(this.pg, model);
    this.#buffers = model.namedBuffers().map(([, t]) => t);
    this.#sync = new GradientSync(this.pg, params, this.options.bucketBytes ?? DEFAULT_BUCKET_BYTES);
    if (this.options.syncBatchNorm) this.#restoreBn = convertSyncBatchNorm(this.pg, model).restore;
  }

  /**
   * The batches of `batches` while every rank still has one: before each step the ranks agree (one small
   * all-reduce) whether all of them have a batch, so a rank that ran out (its share lost unreadable videos) does not
   * leave the others waiting in a gradient all-reduce. The rest of a longer share is left out of this epoch.
   */
  async *even<T>(batches: AsyncIterable<T>): AsyncGenerator<T> {
    const it = batches[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await it.next();
        const [missing] = await this.sum([next.done ? 1 : 0]);
        if (missing! > 0) return;
        yield next.value as T;
      }
    } finally {
      await it.return?.();
    }
  }

  beforeBackward(): void {
    this.#sync?.prepare();
  }

  async afterBackward(): Promise<void> {
    await this.#sync?.finish();
  }

  /**
   * DDP broadcasts rank 0's buffers before every forward; in training mode batch norm normalises with the batch's
   * statistics, so rank 0's running statistics come out the same when they are broadcast only before evaluation.
   */
  async beforeEvaluation(): Promise<void> {
    if (this.#buffers.length) await this.pg.broadcastMany(this.#buffers, 0);
  }

  sum(values: number[]): Promise<number[]> {
    return this.pg.allReduceNumbers(values, 'sum');
  }

  /** Every rank's evaluated samples (logits rows, labels) and loss sum, the same on every rank. */
  async gatherEvaluation(r: {
    lossSum: number;
    logits: number[][];
    labels: number[];
  }): Promise<{ lossSum: number; logits: number[][]; labels: number[] }> {
    const classes = r.logits[0]?.length ?? 0;
    const packed = [r.lossSum, r.labels.length, classes, ...r.labels, ...r.logits.flat()];
    const all = await this.pg.allGatherNumbers(packed);
    const out = { lossSum: 0, logits: [] as number[][], labels: [] as number[] };
    for (const p of all) {
      const [lossSum, n, c] = p as [number, number, number];
      out.lossSum += lossSum;
      out.labels.push(...p.slice(3, 3 + n));
      for (let i = 0; i < n; i++) out.logits.push(p.slice(3 + n + i * c, 3 + n + (i + 1) * c));
    }
    return out;
  }

  close(): void {
    this.#sync?.close();
    this.#sync = null;
    this.#restoreBn?.();
    this.#restoreBn = null;
  }
}
