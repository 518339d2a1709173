// The training loop of the seed's training.py: SGD with momentum, the three-phase learning rate, categorical
// cross-entropy, validation every epoch, a `best` checkpoint when validation accuracy improves and a `last`
// checkpoint every epoch, exact resume, a JSON-lines log, and a stop on a non-finite loss that keeps the last
// good checkpoints.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorClass, I3DError } from '../core/errors.js';
import * as F from '../nn/functional.js';
import type { Module } from '../nn/module.js';
import { SGD } from '../optim/sgd.js';
import { manualSeed } from '../tensor/runtime.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import {
  findCheckpoint,
  loadCheckpointInto,
  readCheckpointMeta,
  saveCheckpoint,
  type EpochRecord,
  type TrainerState,
} from './checkpoint.js';
import { classificationMetrics, type ClassificationMetrics } from './metrics.js';
import { learningRate, type StepSchedule } from './schedule.js';

/** A batch of clips (any layout the model takes, e.g. [B, S, T, H, W, C]) and their class indices. */
export interface LabelledBatch {
  clips: Float32Array;
  shape: number[];
  labels: number[];
}

/** A split of a dataset: how many examples, and its batches for an epoch (shuffled and augmented, or not). */
export interface DataSplit {
  size: number;
  batchSize: number;
  batches(epoch: number): AsyncIterable<LabelledBatch>;
}

export interface TrainableModel extends Module {
  forward(x: Tensor): Tensor;
  /** Parameters to update (default: all). */
  trainableParameters?(): Tensor[];
}

/** Training diverged: the loss became NaN or infinite (I3D_NON_FINITE_LOSS). */
export class NonFiniteLossError extends errorClass('NonFiniteLossError', 'I3D_NON_FINITE_LOSS') {}

/**
 * Data-parallel training (src/distributed/training.ts implements it): each rank's DataSplits hold its own share,
 * gradients are averaged after backward, sums and validation results are reduced, and only rank 0 writes.
 */
export interface FitDistributed {
  readonly rank: number;
  readonly worldSize: number;
  start(model: Module, params: Tensor[]): Promise<void>;
  /** Batches while every rank has one (a skipped video can leave one rank a batch short: all stop together). */
  even<T>(batches: AsyncIterable<T>): AsyncIterable<T>;
  beforeBackward(): void;
  afterBackward(): Promise<void>;
  /** Rank 0's buffers (batch-norm running statistics) on every rank, as DDP's broadcast_buffers. */
  beforeEvaluation(): Promise<void>;
  sum(values: number[]): Promise<number[]>;
  gatherEvaluation(r: { lossSum: number; logits: number[][]; labels: number[] }): Promise<{
    lossSum: number;
    logits: number[][];
    labels: number[];
  }>;
  close(): void;
}

export interface FitOptions {
  model: TrainableModel;
  classes: number;
  train: DataSplit;
  validation: DataSplit;
  epochs: number;
  schedule: StepSchedule;
  momentum: number;
  weightDecay: number;
  /** Seeds libtorch's generator (dropout) at the start of every epoch: seed + epoch. */
  seed: number;
  /** Output folder: `best/`, `last/`, `log.jsonl`. */
  out: string;
  /** Continue from `out/last` (weights, momentum, epoch, best metric, history). */
  resume?: boolean;
  /** Saved in every checkpoint's state.json. */
  meta: { params: unknown; model: unknown };
  onBatch?: (b: { epoch: number; batch: number; batches: number; loss: number; lr: number }) => void;
  onEpoch?: (r: EpochRecord & { improved: boolean }) => void;
  /** Train data-parallel with other ranks (each split is this rank's share). */
  distributed?: FitDistributed;
}

export interface FitResult extends TrainerState {
  /** Validation metrics of the last epoch run. */
  lastValidation: ClassificationMetrics | null;
  resumedFrom: number;
}

/** Loss and metrics of a model on a split (eval mode, no gradients). */
export async function evaluateSplit(
  model: TrainableModel,
  split: DataSplit,
  classes: number,
  epoch = 0,
  distributed?: FitDistributed,
): Promise<{ loss: number; metrics: ClassificationMetrics; logits: number[][]; labels: number[] }> {
  let logits: number[][] = [];
  let labels: number[] = [];
  let lossSum = 0;
  model.eval();
  for await (const b of split.batches(epoch)) {
    scope(() =>
      noGrad(() => {
        const out = model.forward(tensor(b.clips, b.shape));
        const y = tensor(
          BigInt64Array.from(b.labels, (l) => BigInt(l)),
          [b.labels.length],
        );
        lossSum += F.crossEntropy(out, y).item() * b.labels.length;
        const rows = out.toArray();
        for (let i = 0; i < b.labels.length; i++) logits.push(rows.slice(i * classes, (i + 1) * classes));
        labels.push(...b.labels);
      }),
    );
  }
  if (distributed) ({ lossSum, logits, labels } = await distributed.gatherEvaluation({ lossSum, logits, labels }));
  return {
    loss: labels.length ? lossSum / labels.length : Number.NaN,
    metrics: classificationMetrics(logits, labels, classes),
    logits,
    labels,
  };
}

function logLine(out: string, entry: Record<string, unknown>): void {
  appendFileSync(join(out, 'log.jsonl'), `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

export async function fit(o: FitOptions): Promise<FitResult> {
  const d = o.distributed;
  const writer = !d || d.rank === 0;
  const log = (out: string, entry: Record<string, unknown>) => writer && logLine(out, entry);
  mkdirSync(o.out, { recursive: true });
  const params = o.model.trainableParameters?.() ?? o.model.parameters();
  const opt = new SGD(params, { lr: o.schedule.rates[0], momentum: o.momentum, weightDecay: o.weightDecay });
  let state: TrainerState = { epoch: 0, bestValAccuracy: -1, bestEpoch: 0, history: [] };
  let resumedFrom = 0;
  try {
    if (o.resume) {
      const dir = findCheckpoint(join(o.out, 'last'));
      if (!dir) throw new I3DError('I3D_BAD_RUN_FOLDER', `--resume: no checkpoint in ${join(o.out, 'last')} to resume from`);
      loadCheckpointInto(dir, o.model, opt);
      state = readCheckpointMeta(dir).trainer;
      resumedFrom = state.epoch;
      log(o.out, { type: 'resume', epoch: state.epoch, from: dir });
    }
    await d?.start(o.model, params);
    let lastValidation: ClassificationMetrics | null = null;
    for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      const lr = learningRate(o.schedule, epoch);
      opt.lr = lr;
      manualSeed(o.seed + epoch);
      const batches = Math.ceil(o.train.size / o.train.batchSize);
      let seen = 0;
      let lossSum = 0;
      let correct = 0;
      let batch = 0;
      let dataMs = 0;
      let stepMs = 0;
      let waitFrom = performance.now();
      for await (const b of d ? d.even(o.train.batches(epoch)) : o.train.batches(epoch)) {
        const stepFrom = performance.now();
        dataMs += stepFrom - waitFrom;
        batch++;
        const { loss, hits } = await scope(async () => {
          o.model.train();
          opt.zeroGrad();
          const out = o.model.forward(tensor(b.clips, b.shape));
          const y = tensor(
            BigInt64Array.from(b.labels, (l) => BigInt(l)),
            [b.labels.length],
          );
          const lossT = F.crossEntropy(out, y);
          let value = lossT.item();
          if (!d && !Number.isFinite(value)) return { loss: value, hits: 0 };
          d?.beforeBackward();
          lossT.backward();
          await d?.afterBackward();
          // Every rank stops together when any rank's loss is not finite.
          if (d) value = (await d.sum([Number.isFinite(value) ? 0 : 1]))[0]! > 0 ? Number.NaN : value;
          if (!Number.isFinite(value)) return { loss: value, hits: 0 };
          opt.step();
          return { loss: value, hits: noGrad(() => out.argmax(1).eq(y).sum().item()) };
        });
        if (!Number.isFinite(loss)) {
          const message =
            `training stopped: the loss became ${loss} at epoch ${epoch}, batch ${batch}; the checkpoints of epoch ` +
            `${state.epoch} are kept (lower the learning rate, or check the data)`;
          log(o.out, { type: 'stopped', epoch, batch, loss: String(loss), reason: 'non-finite loss' });
          throw new NonFiniteLossError(message);
        }
        seen += b.labels.length;
        lossSum += loss * b.labels.length;
        correct += hits;
        o.onBatch?.({ epoch, batch, batches, loss, lr });
        waitFrom = performance.now();
        stepMs += waitFrom - stepFrom;
      }
      dataMs += performance.now() - waitFrom;
      if (d) [seen, lossSum, correct] = (await d.sum([seen, lossSum, correct])) as [number, number, number];
      await d?.beforeEvaluation();
      const valFrom = performance.now();
      const val = await evaluateSplit(o.model, o.validation, o.classes, epoch, d);
      const validationMs = performance.now() - valFrom;
      lastValidation = val.metrics;
      const record: EpochRecord = {
        epoch,
        lr,
        loss: lossSum / Math.max(1, seen),
        accuracy: correct / Math.max(1, seen),
        valLoss: val.loss,
        valAccuracy: val.metrics.top1,
        seconds: (performance.now() - started) / 1000,
        time: { dataSec: dataMs / 1000, stepSec: stepMs / 1000, validationSec: validationMs / 1000 },
      };
      const improved = val.metrics.top1 > state.bestValAccuracy;
      state = {
        epoch,
        bestValAccuracy: improved ? val.metrics.top1 : state.bestValAccuracy,
        bestEpoch: improved ? epoch : state.bestEpoch,
        history: [...state.history, record],
      };
      const meta = { format: 'i3d-checkpoint' as const, version: 1 as const, trainer: state, params: o.meta.params, model: o.meta.model };
      if (writer && improved) saveCheckpoint(join(o.out, 'best'), o.model, null, meta);
      if (writer) saveCheckpoint(join(o.out, 'last'), o.model, opt, meta);
      log(o.out, { type: 'epoch', ...record, improved, valTop5: val.metrics.top5, confusion: val.metrics.confusion });
      o.onEpoch?.({ ...record, improved });
    }
    return { ...state, lastValidation, resumedFrom };
  } finally {
    d?.close();
    opt.dispose();
  }
}
