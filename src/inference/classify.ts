// Clip classification with an I3D (one stream, or two streams whose logits are added as the official
// evaluate_sample.py does), top-k with labels, and the text the official sample prints.
import type { I3D } from '../models/i3d.js';
import { scope } from '../tensor/context.js';
import type { Tensor } from '../tensor/tensor.js';
import { I3DError } from '../core/errors.js';

export interface TopClass {
  index: number;
  label: string;
  probability: number;
  logit: number;
}

export interface Prediction {
  logits: number[];
  top: TopClass[];
}

/** The logits of one clip [1, T, H, W, C] (a batch gives one row per clip: this returns the first). */
export function clipLogits(model: I3D, clip: Tensor): number[] {
  if (!model.includeTop)
    throw new I3DError('I3D_BAD_MODEL', `I3D.predict: this ${model.stream} model has no top (logits layer); load weights with their top`);
  return model.evaluating(() => scope(() => model.forward(clip).logits!.narrow(0, 0, 1).toArray()));
}

/** Softmax in float64 (stable). */
export function softmax(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Element-wise sum of the streams' logits (two-stream fusion). */
export function addLogits(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length)
    throw new I3DError('I3D_BAD_MODEL', `two-stream: the RGB model has ${a.length} classes and the flow model ${b.length}`);
  return a.map((x, i) => x + b[i]!);
}

/** The k most probable classes, most probable first; labels default to the class index. */
export function topK(logits: readonly number[], k: number, labels?: readonly string[]): Prediction {
  if (labels && labels.length !== logits.length)
    throw new I3DError('I3D_BAD_MODEL', `the label map has ${labels.length} names but the model has ${logits.length} classes`);
  const p = softmax(logits);
  const order = logits.map((_, i) => i).sort((i, j) => logits[j]! - logits[i]! || i - j);
  const top = order.slice(0, Math.min(k, logits.length)).map((index) => ({
    index,
    label: labels?.[index] ?? String(index),
    probability: p[index]!,
    logit: logits[index]!,
  }));
  return { logits: [...logits], top };
}

/** The official sample's text: the norm of the logits, then probability, logit and label per line. */
export function formatPrediction(p: Prediction): string {
  const norm = Math.sqrt(p.logits.reduce((s, x) => s + x * x, 0));
  const lines = p.top.map((t) => `${t.probability.toPrecision(7)} ${t.logit.toPrecision(7)} ${t.label}`);
  return `Norm of logits: ${norm.toFixed(6)}\n\nTop classes and probabilities\n${lines.join('\n')}`;
}
