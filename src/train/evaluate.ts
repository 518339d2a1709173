// Evaluation and prediction with a trained I3D-LSTM: a labelled folder -> top-1, top-5, mean class accuracy,
// confusion matrix; one video -> top-k classes, or one prediction per window of a long video.
import { BatchGenerator } from '../data/generator.js';
import { scanFolder } from '../data/dataset.js';
import { topK, type Prediction } from '../inference/classify.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { loadClip } from '../video/clip.js';
import { segmentIndices } from '../video/sample.js';
import { evaluateSplit } from './fit.js';
import { generatorSplit } from './run.js';
import type { ClassificationMetrics } from './metrics.js';
import { loadTrainedModel, type I3DLSTMDescription } from './trained-model.js';

export interface EvaluateOptions {
  batch?: number;
  workers?: number;
  onSkip?: (path: string, e: Error) => void;
}

export interface Evaluation {
  metrics: ClassificationMetrics;
  classes: string[];
  skipped: string[];
  model: string;
}

/** Evaluates a trained model (a checkpoint or training folder) on a folder of class folders named as its classes. */
export async function evaluateFolder(modelDir: string, dataDir: string, o: EvaluateOptions = {}): Promise<Evaluation> {
  const { model, description: d, dir } = loadTrainedModel(modelDir);
  try {
    const ds = scanFolder(dataDir);
    const unknown = ds.classes.filter((c) => !d.labels.includes(c));
    if (unknown.length)
      throw new Error(
        `${dataDir}: class folder(s) ${unknown.map((c) => `'${c}'`).join(', ')} are not classes of the model (${d.labels.join(', ')})`,
      );
    const samples = ds.samples.map((s) => ({ ...s, label: d.labels.indexOf(s.className) }));
    if (!samples.length) throw new Error(`${dataDir}: no videos to evaluate`);
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
    });
    try {
      const r = await evaluateSplit(model, generatorSplit(gen, samples.length, batch), d.classes);
      return { metrics: r.metrics, classes: d.labels, skipped: [...gen.skipped.keys()], model: dir };
    } finally {
      await gen.close();
    }
  } finally {
    model.dispose();
  }
}

export interface WindowPrediction extends Prediction {
  /** Seconds from the start of the video. */
  start: number;
  end: number;
}

export interface TrainedPredictOptions {
  top?: number;
  /** Window length in seconds: one prediction per window (long videos). */
  window?: number;
  /** Seconds between window starts (default: the window length). */
  stride?: number;
}

function logitsRows(model: ReturnType<typeof loadTrainedModel>['model'], data: Float32Array, shape: number[], classes: number): number[] {
  return scope(() => noGrad(() => model.forward(tensor(data, shape)).toArray().slice(0, classes)));
}

/** Predicts the class of a video with a trained I3D-LSTM: whole video, or one prediction per window. */
export async function predictTrained(
  modelDir: string,
  video: string,
  o: TrainedPredictOptions = {},
): Promise<{ description: I3DLSTMDescription; prediction?: Prediction; windows?: WindowPrediction[] }> {
  const { model, description: d } = loadTrainedModel(modelDir);
  const k = o.top ?? 5;
  const { segments: S, frames: T, size, resize, fps } = d.clip;
  try {
    if (o.window === undefined) {
      const clip = await loadClip(video, { frames: T, segments: S, size, resize, fps, crop: 'center' });
      return { description: d, prediction: topK(logitsRows(model, clip.data, clip.shape, d.classes), k, d.labels) };
    }
    if (!(o.window > 0)) throw new RangeError(`--window must be a positive number of seconds, got ${o.window}`);
    const stride = o.stride ?? o.window;
    if (!(stride > 0)) throw new RangeError(`--stride must be a positive number of seconds, got ${stride}`);
    const all = await loadClip(video, { frames: 'all', size, resize, fps, crop: 'center' });
    const total = all.shape[1]!;
    const frameLen = size * size * 3;
    const win = Math.max(1, Math.round(o.window * fps));
    const step = Math.max(1, Math.round(stride * fps));
    const windows: WindowPrediction[] = [];
    for (let start = 0; start === 0 || start + win <= total; start += step) {
      const len = Math.min(win, total - start);
      const idx = segmentIndices(len, S, T).flat();
      const data = new Float32Array(idx.length * frameLen);
      idx.forEach((f, j) => data.set(all.data.subarray((start + f) * frameLen, (start + f + 1) * frameLen), j * frameLen));
      const p = topK(logitsRows(model, data, [1, S, T, size, size, 3], d.classes), k, d.labels);
      windows.push({ ...p, start: start / fps, end: (start + len) / fps });
      if (start + win >= total) break;
    }
    return { description: d, windows };
  } finally {
    model.dispose();
  }
}
