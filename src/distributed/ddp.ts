// DistributedDataParallel's semantics for our modules: rank 0's parameters and buffers broadcast to every rank;
// gradients averaged over the ranks by bucketed all-reduces that the addon starts from autograd hooks while backward
// still runs; batch norm per rank unless synchronized (SyncBatchNorm: the statistics of the whole global batch).
import { native } from '../native/binding.js';
import { Unit3d } from '../models/i3d.js';
import * as F from '../nn/functional.js';
import { BatchNorm3d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { op, opNone } from '../tensor/exec.js';
import { handleOf as h, type Tensor } from '../tensor/tensor.js';
import { fromNative } from './errors.js';
import type { ProcessGroup } from './process-group.js';

/** DDP's default bucket size. */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

const finishOp = opNone((id: number) => ['distGradSyncFinish', id]);
let nextSync = 1;

/** Rank `root`'s parameters and buffers copied into every rank's module (one message). */
export async function broadcastModule(pg: ProcessGroup, model: Module, root = 0): Promise<void> {
  if (pg.worldSize === 1) return;
  await pg.broadcastMany([...model.stateTensors().values()], root);
}

/**
 * Averages the gradients of `params` over the ranks after each backward: `prepare()` before backward arms the
 * hooks (buckets start their all-reduce as soon as their gradients are ready), `finish()` after backward waits
 * for all of them (off the JavaScript thread, with the group's time-out) and writes the averages into `.grad`.
 */
export class GradientSync {
  readonly #id: number;
  readonly buckets: number;
  #closed = false;

  constructor(
    readonly pg: ProcessGroup,
    params: readonly Tensor[],
    bucketBytes = DEFAULT_BUCKET_BYTES,
  ) {
    if (!params.length) throw new RangeError('GradientSync: no parameters to synchronise');
    if (!Number.isInteger(bucketBytes) || bucketBytes < 1)
      throw new RangeError(`GradientSync: 'bucketBytes' must be a positive integer, got ${bucketBytes}`);
    this.#id = nextSync++;
    const create = native.distGradSyncCreate as (id: number, pg: number, ps: unknown[], cap: number) => number;
    this.buckets = create(
      this.#id,
      pg.nativeId,
      params.map((p, i) => h('GradientSync', `params[${i}]`, p)),
      bucketBytes,
    );
  }

  prepare(): void {
    (native.distGradSyncPrepare as (id: number) => void)(this.#id);
  }

  async finish(): Promise<void> {
    try {
      await finishOp.async(this.#id);
    } catch (e) {
      throw fromNative(e);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    (native.distGradSyncDestroy as (id: number) => void)(this.#id);
  }
}

interface BatchNormState {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor;
  runningVar: Tensor;
  momentum: number;
  eps: number;
}

const syncBatchNormOp = op((pg: number, bn: BatchNormState, x: Tensor) => [
  'distSyncBatchNorm',
  pg,
  h('syncBatchNorm', 'x', x),
  bn.weight === null ? null : h('syncBatchNorm', 'weight', bn.weight),
  bn.bias === null ? null : h('syncBatchNorm', 'bias', bn.bias),
  h('syncBatchNorm', 'runningMean', bn.runningMean),
  h('syncBatchNorm', 'runningVar', bn.runningVar),
  bn.momentum,
  bn.eps,
]);

/**
 * Makes every BatchNorm3d and every I3D unit (conv, batch norm without scale, ReLU) under `model` normalise with the statistics of the global batch while training (eval
 * mode is unchanged: the running statistics). Returns how many layers were converted and a function that undoes it.
 */
export function convertSyncBatchNorm(pg: ProcessGroup, model: Module): { layers: number; restore: () => void } {
  const undo: (() => void)[] = [];
  for (const m of model.modules()) {
    if (m instanceof Unit3d) {
      const u = m;
      // Unit3d.forward with its batch norm (no scale, eps 1e-3, as the official I3D) synchronised.
      const bn = { weight: null, bias: u.beta, runningMean: u.runningMean, runningVar: u.runningVar, momentum: u.bnMomentum, eps: 1e-3 };
      const local = u.forward.bind(u);
      u.forward = (x: Tensor) =>
        u.training ? syncBatchNormOp(pg.nativeId, bn, F.conv3d(x, u.weight, { stride: u.stride, padding: 'same' })).relu() : local(x);
      undo.push(() => {
        u.forward = Unit3d.prototype.forward.bind(u);
      });
    }
    if (!(m instanceof BatchNorm3d)) continue;
    const bn = m;
    const local = bn.forward.bind(bn);
    bn.forward = (x: Tensor) => (bn.training ? syncBatchNormOp(pg.nativeId, bn, x) : local(x));
    undo.push(() => {
      bn.forward = BatchNorm3d.prototype.forward.bind(bn);
    });
  }
  return { layers: undo.length, restore: () => undo.forEach((f) => f()) };
}
