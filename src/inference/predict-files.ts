// `i3d predict` over many videos (files and folders): the models are loaded once, and each video streams through them
// in chunks under the memory budget; decoding overlaps the model (the fused path runs off the JavaScript thread)
// within a video and across videos (the next one is read ahead). A file that cannot be read is reported and skipped.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isVideo } from '../data/dataset.js';
import { addLogits, topK, type Prediction } from './classify.js';
import { ClipRunner } from './clip-runner.js';
import { MemoryBudgetError } from './memory-budget.js';
import { frameSourceAhead, labelsFor, loadClassifier, type PredictOptions, RANDOM_WEIGHTS, streamLogits } from './predict.js';
import { I3DError } from '../core/errors.js';

/** The files to classify: files as given, folders expanded to their video files (recursively, sorted). */
export function expandInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (isVideo(name)) out.push(p);
    }
  };
  for (const i of inputs) {
    let isDir: boolean;
    try {
      isDir = statSync(i).isDirectory();
    } catch {
      isDir = false; // reported by the reader with its own message
    }
    if (isDir) walk(i);
    else out.push(i);
  }
  return out;
}

export interface FileResult {
  input: string;
  prediction?: Prediction;
  error?: string;
}

export interface PredictFilesSummary {
  files: number;
  failed: number;
  seconds: number;
  /** Of which the model ran (waiting for decoding is the rest). */
  modelSeconds: number;
}

type Prepared = Awaited<ReturnType<typeof frameSourceAhead>>;

/** Classifies each file (RGB, plus the flow stream computed from the video with `flowWeights`), in order. */
export async function predictFiles(
  files: readonly string[],
  o: PredictOptions,
  onResult: (r: FileResult) => void,
): Promise<PredictFilesSummary> {
  if (o.flow)
    throw new I3DError('I3D_USAGE', '--flow <npy> takes one input; for many videos use --flow-weights (flow computed from each video)');
  const t0 = performance.now();
  const spec = o.weights ?? 'rgb_imagenet_and_kinetics';
  if (spec === RANDOM_WEIGHTS) o.warn?.('random weights: the classes below mean nothing (use --weights to load real ones)');
  const rgbModel = await loadClassifier(spec, 'rgb', o);
  const rgb = new ClipRunner(rgbModel.model, o);
  let flow: ClipRunner | null = null;
  let modelMs = 0;
  let failed = 0;
  let next: Promise<Prepared | Error> | null = null;
  try {
    if (o.flowWeights) flow = new ClipRunner((await loadClassifier(o.flowWeights, 'flow', o)).model, o);
    const labels = await labelsFor(rgbModel.model.classes, rgbModel.labels, o);
    // Each video streams through the model in chunks (decoding overlaps the model within a video), in bounded memory,
    // and the next video's frames are counted and decoded ahead (at most PREFETCH_BYTES of them) while the model runs
    // on this one, so short videos overlap as well.
    const prepare = async (file: string): Promise<Prepared | Error> => {
      try {
        return await frameSourceAhead(file, 'rgb', o);
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    };
    next = files.length ? prepare(files[0]!) : null;
    for (let i = 0; i < files.length; i++) {
      const file = files[i]!;
      const prepared = await next!;
      next = i + 1 < files.length ? prepare(files[i + 1]!) : null;
      const m0 = performance.now();
      try {
        if (prepared instanceof Error) throw prepared;
        let logits = (await streamLogits(rgb, file, o, undefined, prepared)).logits;
        if (flow) logits = addLogits(logits, (await streamLogits(flow, file, o)).logits);
        onResult({ input: file, prediction: topK(logits, o.top ?? 5, labels) });
      } catch (e) {
        if (e instanceof MemoryBudgetError) throw e; // the same for every file
        failed++;
        onResult({ input: file, error: e instanceof Error ? e.message : String(e) });
      } finally {
        // A video that failed part-way is still being read ahead: stop it (its ffmpeg ends). After a full read, a no-op.
        if (!(prepared instanceof Error)) await prepared.close();
      }
      modelMs += performance.now() - m0;
    }
  } finally {
    // Stopped early (a memory-budget error): the video being read ahead is closed, its ffmpeg ends.
    if (next) await next.then((p) => (p instanceof Error ? undefined : p.close()));
    rgb.dispose();
    flow?.dispose();
  }
  return { files: files.length, failed, seconds: (performance.now() - t0) / 1000, modelSeconds: modelMs / 1000 };
}
