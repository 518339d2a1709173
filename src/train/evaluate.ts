// Evaluation and prediction with a trained I3D-LSTM: a labelled folder -> top-1, top-5, mean class accuracy,
// confusion matrix; one video -> top-k classes, or one prediction per window of a long video.
import { BatchGenerator } from '../data/generator.js';
import { scanFolder, type Sample, DatasetError } from '../data/dataset.js';
import { topK, type Prediction } from '../inference/classify.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { loadStreamClip } from '../video/stream-clip.js';
import { segmentIndices } from '../video/sample.js';
import { classificationMetrics, type ClassificationMetrics } from './metrics.js';
import { fuseBackbone } from '../inference/i3d-plan.js';
import type { WindowPrediction } from '../inference/windows.js';
import { loadTrainedModel, readTrainedDescription, type I3DLSTMDescription } from './trained-model.js';
import { I3DError } from '../core/errors.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { shardOrder } from '../distributed/sampler.js';
import { gatherIndices, gatherRows } from '../distributed/gather.js';

export interface EvaluateOptions {
  batch?: number;
  workers?: number;
  /** A trained flow-stream I3D-LSTM of the same classes: two-stream, the streams' logits averaged per video. */
  flowModel?: string;
  onSkip?: (path: string, e: Error) => void;
  /** Share the videos with the other ranks of this group (each evaluates every world-size-th); metrics over all. */
  distributed?: ProcessGroup;
}

export interface Evaluation {
  metrics: ClassificationMetrics;
  classes: string[];
  skipped: string[];
  model: string;
  /** The stream(s) whose logits were averaged. */
  streams: string[];
}

/** Every video's logits from one trained model (eval mode, centre crops), by path. */
async function logitsByPath(
  modelDir: string,
  samples: readonly Sample[],
  o: EvaluateOptions,
): Promise<{ logits: Map<string, number[]>; skipped: string[]; description: I3DLSTMDescription; dir: string }> {
  const { model, description: d, dir } = loadTrainedModel(modelDir);
  const batch = o.batch ?? 4;
  const gen = new BatchGenerator({
    samples,
    classes: d.classes,
    batchSize: batch,
    clip: { ...d.clip },
    stream: d.stream,
    training: false,
    workers: o.workers ?? 2,
    ...(o.onSkip ? { onSkip: o.onSkip } : {}),
    ...(o.distributed ? { select: (order: number[]) => shardOrder(order, o.distributed!, false) } : {}),
  });
  const logits = new Map<string, number[]>();
  let unfuse = () => {};
  try {
    model.eval();
    unfuse = fuseBackbone(model);
    for await (const b of gen.epoch(0)) {
      const rows = scope(() => noGrad(() => model.forward(tensor(b.x, b.shape)).toArray()));
      b.paths.forEach((path, i) => logits.set(path, rows.slice(i * d.classes, (i + 1) * d.classes)));
    }
    if (o.distributed) {
      // Every rank's videos, by their index in `samples` (the same list everywhere).
      const index = new Map(samples.map((s, i) => [s.path, i]));
      const all = await gatherRows(o.distributed, new Map([...logits].map(([p, l]) => [index.get(p)!, l])));
      const skipped = await gatherIndices(
        o.distributed,
        [...gen.skipped.keys()].map((p) => index.get(p)!),
      );
      const byPath = new Map([...all].map(([i, l]) => [samples[i]!.path, l]));
      return { logits: byPath, skipped: skipped.map((i) => samples[i]!.path), description: d, dir };
    }
    return { logits, skipped: [...gen.skipped.keys()], description: d, dir };
  } finally {
    await gen.close();
    unfuse();
    model.dispose();
  }
}

/**
 * Evaluates a trained model (a checkpoint or training folder) on a folder of class folders named as its classes;
 * with `flowModel`, the RGB and flow models' logits are averaged (two-stream).
 */
export async function evaluateFolder(modelDir: string, dataDir: string, o: EvaluateOptions = {}): Promise<Evaluation> {
  const first = readTrainedDescription(modelDir);
  const ds = scanFolder(dataDir);
  const unknown = ds.classes.filter((c) => !first.labels.includes(c));
  if (unknown.length)
    throw new DatasetError(
      `${dataDir}: class folder(s) ${unknown.map((c) => `'${c}'`).join(', ')} are not classes of the model (${first.labels.join(', ')})`,
    );
  const samples = ds.samples.map((s) => ({ ...s, label: first.labels.indexOf(s.className) }));
  if (!samples.length) throw new DatasetError(`${dataDir}: no videos to evaluate`);
  const runs = [await logitsByPath(modelDir, samples, o)];
  if (o.flowModel) {
    const flow = readTrainedDescription(o.flowModel);
    if (flow.labels.join('\n') !== first.labels.join('\n'))
      throw new I3DError(
        'I3D_BAD_MODEL',
        `${o.flowModel}: its classes differ from those of ${modelDir}; two-stream needs the same classes in the same order`,
      );
    runs.push(await logitsByPath(o.flowModel, samples, o));
  }
  const rows: number[][] = [];
  const labels: number[] = [];
  for (const s of samples) {
    const per = runs.map((r) => r.logits.get(s.path));
    if (per.some((l) => !l)) continue;
    rows.push(per[0]!.map((_, c) => per.reduce((sum, l) => sum + l![c]!, 0) / per.length));
    labels.push(s.label);
  }
  return {
    metrics: classificationMetrics(rows, labels, first.classes),
    classes: first.labels,
    skipped: [...new Set(runs.flatMap((r) => r.skipped))],
    model: runs[0]!.dir,
    streams: runs.map((r) => r.description.stream),
  };
}

export interface TrainedPredictOptions {
  top?: number;
  /** Window length in seconds: one prediction per window (long videos). */
  window?: number;
  /** Seconds between window starts (default: the window length). */
  stride?: number;
  /** A trained flow-stream model of the same classes: two-stream, logits averaged. */
  flowModel?: string;
}

function logitsRows(model: ReturnType<typeof loadTrainedModel>['model'], data: Float32Array, shape: number[], classes: number): number[] {
  return scope(() => noGrad(() => model.forward(tensor(data, shape)).toArray().slice(0, classes)));
}

/** One model's logits on a video: whole (segments spread over it), or per window. */
async function videoLogits(
  modelDir: string,
  video: string,
  o: TrainedPredictOptions,
): Promise<{ description: I3DLSTMDescription; whole?: number[]; windows?: { start: number; end: number; logits: number[] }[] }> {
  const { model, description: d } = loadTrainedModel(modelDir);
  const { segments: S, frames: T, size, resize, fps } = d.clip;
  model.eval();
  const unfuse = fuseBackbone(model);
  try {
    if (o.window === undefined) {
      const clip = await loadStreamClip(d.stream, video, { frames: T, segments: S, size, resize, fps, crop: 'center' });
      return { description: d, whole: logitsRows(model, clip.data, clip.shape, d.classes) };
    }
    if (!(o.window > 0)) throw new I3DError('I3D_INVALID_ARGUMENT', `--window must be a positive number of seconds, got ${o.window}`);
    const stride = o.stride ?? o.window;
    if (!(stride > 0)) throw new I3DError('I3D_INVALID_ARGUMENT', `--stride must be a positive number of seconds, got ${stride}`);
    const all = await loadStreamClip(d.stream, video, { frames: 'all', size, resize, fps, crop: 'center' });
    const total = all.shape[1]!;
    const channels = d.stream === 'flow' ? 2 : 3;
    const frameLen = size * size * channels;
    const win = Math.max(1, Math.round(o.window * fps));
    const step = Math.max(1, Math.round(stride * fps));
    const windows: { start: number; end: number; logits: number[] }[] = [];
    for (let start = 0; start === 0 || start + win <= total; start += step) {
      const len = Math.min(win, total - start);
      const idx = segmentIndices(len, S, T).flat();
      const data = new Float32Array(idx.length * frameLen);
      idx.forEach((f, j) => data.set(all.data.subarray((start + f) * frameLen, (start + f + 1) * frameLen), j * frameLen));
      windows.push({
        start: start / fps,
        end: (start + len) / fps,
        logits: logitsRows(model, data, [1, S, T, size, size, channels], d.classes),
      });
      if (start + win >= total) break;
    }
    return { description: d, windows };
  } finally {
    unfuse();
    model.dispose();
  }
}

const mean = (rows: number[][]) => rows[0]!.map((_, c) => rows.reduce((s, r) => s + r[c]!, 0) / rows.length);

/** Predicts the class of a video with a trained I3D-LSTM (or two, RGB and flow): whole video, or per window. */
export async function predictTrained(
  modelDir: string,
  video: string,
  o: TrainedPredictOptions = {},
): Promise<{ description: I3DLSTMDescription; prediction?: Prediction; windows?: WindowPrediction[] }> {
  const k = o.top ?? 5;
  const runs = [await videoLogits(modelDir, video, o)];
  const d = runs[0]!.description;
  if (o.flowModel) {
    const flow = await videoLogits(o.flowModel, video, o);
    if (flow.description.labels.join('\n') !== d.labels.join('\n'))
      throw new I3DError(
        'I3D_BAD_MODEL',
        `${o.flowModel}: its classes differ from those of ${modelDir}; two-stream needs the same classes in the same order`,
      );
    runs.push(flow);
  }
  if (o.window === undefined) return { description: d, prediction: topK(mean(runs.map((r) => r.whole!)), k, d.labels) };
  const n = Math.min(...runs.map((r) => r.windows!.length));
  const windows = Array.from({ length: n }, (_, i) => {
    const w = runs[0]!.windows![i]!;
    return { ...topK(mean(runs.map((r) => r.windows![i]!.logits)), k, d.labels), start: w.start, end: w.end };
  });
  return { description: d, windows };
}
