// `i3d predict` over many videos (files and folders): the models are loaded once, and the next video is decoded
// while the model runs on the current one (the fused path runs off the JavaScript thread), so the throughput stays
// close to the model's own when decoding is the cheaper part. A file that cannot be read is reported and skipped.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isVideo } from '../data/dataset.js';
import { addLogits, topK, type Prediction } from './classify.js';
import type { I3DClip } from './clip-input.js';
import { ClipRunner } from './clip-runner.js';
import { labelsFor, loadClassifier, type PredictOptions, RANDOM_WEIGHTS, readFlowInput, readRgbInput } from './predict.js';

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

interface Clips {
  rgb: I3DClip;
  flow: I3DClip | null;
}

/** Classifies each file (RGB, plus the flow stream computed from the video with `flowWeights`), in order. */
export async function predictFiles(
  files: readonly string[],
  o: PredictOptions,
  onResult: (r: FileResult) => void,
): Promise<PredictFilesSummary> {
  if (o.flow) throw new Error('--flow <npy> takes one input; for many videos use --flow-weights (flow computed from each video)');
  const t0 = performance.now();
  const spec = o.weights ?? 'rgb_imagenet_and_kinetics';
  if (spec === RANDOM_WEIGHTS) o.warn?.('random weights: the classes below mean nothing (use --weights to load real ones)');
  const rgbModel = await loadClassifier(spec, 'rgb', o);
  const rgb = new ClipRunner(rgbModel.model, o);
  let flow: ClipRunner | null = null;
  let modelMs = 0;
  let failed = 0;
  try {
    if (o.flowWeights) flow = new ClipRunner((await loadClassifier(o.flowWeights, 'flow', o)).model, o);
    const labels = await labelsFor(rgbModel.model.classes, rgbModel.labels, o);
    const read = async (f: string): Promise<Clips> => ({ rgb: await readRgbInput(f, o), flow: flow ? await readFlowInput(f, o) : null });
    const settle = (f: string) =>
      read(f).then(
        (c) => c,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
    let next = files.length ? settle(files[0]!) : null;
    for (let i = 0; i < files.length; i++) {
      const clips = await next!;
      // Decode the next file while the model works on this one.
      next = i + 1 < files.length ? settle(files[i + 1]!) : null;
      if (clips instanceof Error) {
        failed++;
        onResult({ input: files[i]!, error: clips.message });
        continue;
      }
      const m0 = performance.now();
      let logits = await rgb.logits(clips.rgb);
      if (flow && clips.flow) logits = addLogits(logits, await flow.logits(clips.flow));
      modelMs += performance.now() - m0;
      onResult({ input: files[i]!, prediction: topK(logits, o.top ?? 5, labels) });
    }
  } finally {
    rgb.dispose();
    flow?.dispose();
  }
  return { files: files.length, failed, seconds: (performance.now() - t0) / 1000, modelSeconds: modelMs / 1000 };
}
