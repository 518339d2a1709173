// `i3d train` as a library call: parameters -> dataset, split, batch generators, backbone, I3D-LSTM, fit, report.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lockSync } from '../core/lock.js';
import { writeJsonAtomic } from '../core/storage.js';
import { BatchGenerator, type Batch } from '../data/generator.js';
import { DatasetError, readSplitList, scanFolder, stratifiedSplit, writeClassIndex, type Dataset, type Sample } from '../data/dataset.js';
import { I3DLSTM } from '../models/i3d-lstm.js';
import { manualSeed } from '../tensor/runtime.js';
import { loadBackbone } from '../weights/backbone.js';
import type { FetchOptions } from '../weights/zoo.js';
import { CachedFeaturesHead, featureSplit } from './cached-training.js';
import { extractFeatures, type ExtractResult } from '../features/extract.js';
import { fit, type DataSplit, type FitOptions, type FitResult, type LabelledBatch } from './fit.js';
import type { TrainParams } from './params.js';
import { describeModel } from './trained-model.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { dataParallelHooks, shareFirst } from '../distributed/train-hooks.js';

/** An I3D without its top for a backbone spec: 'random', a zoo name or a path (a top, if any, is dropped). */
/** The train and validation samples: split lists when given, else a stratified seeded split of the folder. */
/** A dataset restricted to `classes` (in that order: labels are their indices), when given. */
function onlyClasses(ds: Dataset, classes: readonly string[] | undefined, source: string): Dataset {
  if (!classes) return ds;
  const missing = classes.filter((c) => !ds.classes.includes(c));
  if (missing.length)
    throw new DatasetError(`${source}: no class folder for ${missing.map((c) => `'${c}'`).join(', ')} (found: ${ds.classes.join(', ')})`);
  const samples = ds.samples.filter((x) => classes.includes(x.className)).map((x) => ({ ...x, label: classes.indexOf(x.className) }));
  return { ...ds, classes: [...classes], samples };
}

export function datasetSplits(p: TrainParams): { classes: string[]; train: Sample[]; validation: Sample[]; dataset: Dataset } {
  if (p.trainList) {
    const train = onlyClasses(readSplitList(p.trainList, p.data), p.classes, p.trainList);
    const validation = p.testList ? onlyClasses(readSplitList(p.testList, p.data, train.classes), p.classes, p.testList) : null;
    if (validation) return { classes: train.classes, train: train.samples, validation: validation.samples, dataset: train };
    const s = stratifiedSplit(train.samples, { validation: p.validationSplit, seed: p.seed });
    return { classes: train.classes, ...s, dataset: train };
  }
  const ds = onlyClasses(scanFolder(p.data), p.classes, p.data);
  return { classes: ds.classes, ...stratifiedSplit(ds.samples, { validation: p.validationSplit, seed: p.seed }), dataset: ds };
}

/** A batch generator seen as a DataSplit for `fit`. */
export function generatorSplit(gen: BatchGenerator, size: number, batchSize: number): DataSplit {
  return {
    size,
    batchSize,
    async *batches(epoch: number): AsyncIterable<LabelledBatch> {
      for await (const b of gen.epoch(epoch) as AsyncIterable<Batch>) yield { clips: b.x, shape: b.shape, labels: Array.from(b.labels) };
    },
  };
}

export interface TrainRunOptions extends FetchOptions {
  resume?: boolean;
  onBatch?: FitOptions['onBatch'];
  onEpoch?: FitOptions['onEpoch'];
  onSkip?: (path: string, e: Error) => void;
  /** With a frozen backbone and the feature cache: progress of the extraction (split 'train' or 'validation'). */
  onExtract?: (p: { split: 'train' | 'validation'; done: number; total: number; computed: number }) => void;
  /** With the feature cache: after each split's features are ready. */
  onFeatures?: (r: { split: 'train' | 'validation'; dir: string; computed: number; reused: number; skipped: number }) => void;
  /** Called once the data is known (before the first epoch). */
  onStart?: (info: { classes: string[]; train: number; validation: number; batchesPerEpoch: number }) => void;
  /** Data-parallel training with the other ranks of this group (see src/distributed; `batch` is per rank). */
  distributed?: ProcessGroup;
}

export interface TrainRunResult extends FitResult {
  classes: string[];
  out: string;
  skipped: string[];
}

/** The lock file of a training output folder: one `i3d train` at a time writes into a folder. */
export const OUTPUT_LOCK = '.i3d-train.lock';

/**
 * Trains as `p` says into `p.out`. The folder is locked for the run by its writer (the one process, or rank 0 of a
 * data-parallel run; the other ranks write nothing there): a second training into it fails at once with I3D_LOCKED
 * naming the folder and the other process; the lock goes at the end (an error and SIGINT included).
 */
export async function trainFromParams(p: TrainParams, o: TrainRunOptions = {}): Promise<TrainRunResult> {
  mkdirSync(p.out, { recursive: true });
  const writer = !o.distributed || o.distributed.rank === 0;
  const held = writer ? lockSync(join(p.out, OUTPUT_LOCK), { what: `the training output folder ${p.out}`, purpose: 'i3d train' }) : null;
  try {
    return await trainLocked(p, o);
  } finally {
    held?.release();
  }
}

async function trainLocked(p: TrainParams, o: TrainRunOptions): Promise<TrainRunResult> {
  const { classes, train, validation } = datasetSplits(p);
  if (classes.length < 2) throw new DatasetError(`${p.data}: ${classes.length} class folder(s); training needs at least 2 classes`);
  if (!train.length || !validation.length)
    throw new DatasetError(`${p.data}: ${train.length} training and ${validation.length} validation videos; both must be non-empty`);
  mkdirSync(p.out, { recursive: true });
  const dp = o.distributed ? dataParallelHooks(o.distributed, p) : null;
  if (!dp || dp.writer) writeClassIndex(join(p.out, 'classes.txt'), classes);
  if (!dp || dp.writer) writeJsonAtomic(join(p.out, 'params.json'), p);
  const clip = { frames: p.frames, segments: p.segments, size: p.size, resize: p.resize, fps: p.fps, frameCache: p.frameCacheMB * 2 ** 20 };
  const common = {
    classes: classes.length,
    batchSize: p.batch,
    clip,
    stream: p.stream,
    seed: p.seed,
    workers: p.workers,
    ...(o.onSkip ? { onSkip: o.onSkip } : {}),
  };
  manualSeed(p.seed);
  const backbone = await loadBackbone(p.backbone, p.stream, p.width, { ...o, bnMomentum: p.bnMomentum });
  const model = new I3DLSTM({ classes: classes.length, backbone, lstm: p.lstm, dropout: p.dropout, freezeBackbone: p.freeze });
  await dp?.start(model);
  const fitOptions = {
    classes: classes.length,
    epochs: p.epochs,
    schedule: { rates: p.lr, boundaries: p.lrEpochs },
    momentum: p.momentum,
    weightDecay: p.weightDecay,
    seed: p.seed,
    out: p.out,
    resume: o.resume ?? false,
    meta: { params: p, model: describeModel(p, classes) },
    ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    ...(o.onEpoch ? { onEpoch: o.onEpoch } : {}),
    ...(dp ? { distributed: dp.fit } : {}),
  };
  if (p.freeze && p.featureCache !== false) {
    // A frozen backbone: its features are computed once (or found in the cache) and only the head trains.
    try {
      const cache = typeof p.featureCache === 'string' ? p.featureCache : join(p.out, 'features');
      const extract = async (split: 'train' | 'validation', samples: Sample[], views: number, all = true): Promise<ExtractResult> => {
        if (all && o.distributed) await shareFirst(o.distributed, samples, (share) => extract(split, share, views, false));
        const r = await extractFeatures(
          { root: p.data, classes, samples },
          {
            out: cache,
            backbone: model.backbone,
            backboneName: p.backbone,
            seed: p.seed,
            segments: p.segments,
            frames: p.frames,
            size: p.size,
            resize: p.resize,
            fps: p.fps,
            views,
            flip: p.flip,
            batch: p.batch,
            workers: p.workers,
            ...(o.onSkip ? { onSkip: o.onSkip } : {}),
            ...(o.onExtract ? { onProgress: (x) => o.onExtract!({ split, ...x }) } : {}),
          },
        );
        o.onFeatures?.({ split, dir: r.dir, computed: r.computed, reused: r.reused, skipped: r.skipped.size });
        return r;
      };
      const tr = await extract('train', train, p.views);
      const va = await extract('validation', validation, 1);
      if (!tr.entries.length || !va.entries.length)
        throw new DatasetError(`${p.data}: no readable ${tr.entries.length ? 'validation' : 'training'} videos`);
      o.onStart?.({
        classes,
        train: tr.entries.length,
        validation: va.entries.length,
        batchesPerEpoch: Math.ceil((dp ? dp.trainShare(tr.entries.length) : tr.entries.length) / p.batch),
      });
      const r = await fit({
        ...fitOptions,
        model: new CachedFeaturesHead(model),
        train: featureSplit(tr.dir, tr.entries, { training: true, seed: p.seed, batchSize: p.batch, ...dp?.trainSelect }),
        validation: featureSplit(va.dir, va.entries, { training: false, seed: p.seed, batchSize: p.batch, ...dp?.evalSelect }),
      });
      return { ...r, classes, out: p.out, skipped: [...tr.skipped.keys(), ...va.skipped.keys()] };
    } finally {
      model.dispose();
    }
  }
  const trainGen = new BatchGenerator({ ...common, samples: train, training: true, flip: p.flip, ...dp?.trainSelect });
  const valGen = new BatchGenerator({ ...common, samples: validation, training: false, ...dp?.evalSelect });
  const trainSize = dp ? dp.trainShare(train.length) : train.length;
  const valSize = dp ? dp.evalShare(validation.length) : validation.length;
  try {
    o.onStart?.({ classes, train: train.length, validation: validation.length, batchesPerEpoch: Math.ceil(trainSize / p.batch) });
    const r = await fit({
      ...fitOptions,
      model,
      train: generatorSplit(trainGen, trainSize, p.batch),
      validation: generatorSplit(valGen, valSize, p.batch),
    });
    return { ...r, classes, out: p.out, skipped: [...trainGen.skipped.keys(), ...valGen.skipped.keys()] };
  } finally {
    model.dispose();
    await trainGen.close();
    await valGen.close();
  }
}
