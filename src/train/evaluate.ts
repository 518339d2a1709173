// Evaluation and prediction with a trained I3D-LSTM: a labelled folder -> top-1, top-5, mean class accuracy,
// confusion matrix; one video -> top-k classes, or one prediction per window of a long video.
import { BatchGenerator } from '../data/generator.js';
import { scanFolder, type Sample, DatasetError } from '../data/dataset.js';
import { topK, type Prediction } from '../inference/classify.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { loadStreamClip } from '../video/stream-clip.js';
import { segmentIndices } from '../video/sample.js';
import { streamFrames } from '../video/stream-frames.js';
import { windowSpans } from '../inference/windows.js';
import { classificationMetrics, type ClassificationMetrics } from './metrics.js';
import { clipFeatures } from '../inference/clip-features.js';
import { createEngine, type InferenceEngine } from '../inference/engine.js';
import type { I3DLSTM } from '../models/i3d-lstm.js';
import type { WindowPrediction } from '../inference/windows.js';
import { loadTrainedModel, readTrainedDescription, type I3DLSTMDescription } from './trained-model.js';
import { I3DError } from '../core/errors.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { shardOrder } from '../distributed/sampler.js';
import { gatherIndices, gatherRows } from '../distributed/gather.js';

/**
 * Logits [B, classes] of an I3D-LSTM (eval mode) on clips [B, S, T, H, W, C]: the segments' backbone features on the
 * inference engine (off the JavaScript thread, a segment too long for the memory budget in chunks), then the head.
 */
export async function lstmLogits(
  model: I3DLSTM,
  engine: InferenceEngine,
  data: Float32Array,
  shape: readonly number[],
  maxMemory?: number,
): Promise<number[]> {
  const [b, s, t, h, w, c] = shape as [number, number, number, number, number, number];
  const features = await clipFeatures(engine, data, [b * s, t, h, w, c], maxMemory === undefined ? {} : { maxMemory });
  return scope(() => noGrad(() => model.classify(tensor(features, [b, s, model.backbone.featureChannels])).toArray()));
}

export interface EvaluateOptions {
  /** Bytes the backbone's inference may use (default DEFAULT_MAX_MEMORY): segments too long for it run in chunks. */
  maxMemory?: number;
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
  let engine: InferenceEngine | null = null;
  try {
    model.eval();
    engine = createEngine(model.backbone);
    for await (const b of gen.epoch(0)) {
      const rows = await lstmLogits(model, engine, b.x, b.shape, o.maxMemory);
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
    engine?.dispose();
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

/** One model's logits on a video: whole (segments spread over it), or per window. */
async function videoLogits(
  modelDir: string,
  video: string,
  o: TrainedPredictOptions,
): Promise<{ description: I3DLSTMDescription; whole?: number[]; windows?: { start: number; end: number; logits: number[] }[] }> {
  const { model, description: d } = loadTrainedModel(modelDir);
  const { segments: S, frames: T, size, resize, fps } = d.clip;
  let engine: InferenceEngine | null = null;
  try {
    model.eval();
    engine = createEngine(model.backbone);
    const e = engine;
    const logitsRows = async (data: Float32Array, shape: number[]) => (await lstmLogits(model, e, data, shape)).slice(0, d.classes);
    if (o.window === undefined) {
      const clip = await loadStreamClip(d.stream, video, { frames: T, segments: S, size, resize, fps, crop: 'center' });
      return { description: d, whole: await logitsRows(clip.data, clip.shape) };
    }
    if (!(o.window > 0)) throw new I3DError('I3D_INVALID_ARGUMENT', `--window must be a positive number of seconds, got ${o.window}`);
    const stride = o.stride ?? o.window;
    if (!(stride > 0)) throw new I3DError('I3D_INVALID_ARGUMENT', `--stride must be a positive number of seconds, got ${stride}`);
    // The frames stream from the decoder; only those a window still to come samples are held (at most the windows
    // that overlap, S x T frames each), so a long video runs in bounded memory.
    const frames = await streamFrames(video, d.stream, { size, resize, fps });
    const total = frames.frames;
    const frameLen = frames.height * frames.width * frames.channels;
    const win = Math.max(1, Math.round(o.window * fps));
    const step = Math.max(1, Math.round(stride * fps));
    const spans = windowSpans(total, win, step).map((span) => ({ ...span, idx: segmentIndices(span.end - span.start, S, T).flat() }));
    const needed = new Map<number, number>(); // frame -> windows still to come that sample it
    for (const sp of spans) for (const f of new Set(sp.idx)) needed.set(sp.start + f, (needed.get(sp.start + f) ?? 0) + 1);
    const held = new Map<number, Float32Array>();
    const windows: { start: number; end: number; logits: number[] }[] = [];
    let next = 0;
    let n = 0;
    const it = frames.source[Symbol.asyncIterator]();
    try {
      while (next < spans.length) {
        const sp = spans[next]!;
        while (n < sp.end) {
          const r = await it.next();
          if (r.done) throw new RangeError(`${video}: the video ended after ${n} frames, expected ${total}`);
          if (needed.has(n)) held.set(n, r.value);
          n++;
        }
        const data = new Float32Array(sp.idx.length * frameLen);
        sp.idx.forEach((f, j) => data.set(held.get(sp.start + f)!, j * frameLen));
        for (const f of new Set(sp.idx)) {
          const left = needed.get(sp.start + f)! - 1;
          if (left > 0) needed.set(sp.start + f, left);
          else held.delete(sp.start + f);
        }
        windows.push({
          start: sp.start / fps,
          end: sp.end / fps,
          logits: await logitsRows(data, [1, S, T, frames.height, frames.width, frames.channels]),
        });
        next++;
      }
    } finally {
      await it.return?.();
    }
    return { description: d, windows };
  } finally {
    engine?.dispose();
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
