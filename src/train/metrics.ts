// Classification metrics from logits: top-1, top-k, mean class accuracy, the confusion matrix.
import { I3DError } from '../core/errors.js';

export interface ClassificationMetrics {
  top1: number;
  top5: number;
  meanClassAccuracy: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Per class: examples and top-1 accuracy (NaN for a class without examples). */
  perClass: { support: number; accuracy: number }[];
  count: number;
}

/** Metrics of rows of logits (one per example) against true class indices. */
export function classificationMetrics(
  logits: readonly (readonly number[])[],
  labels: readonly number[],
  classes: number,
): ClassificationMetrics {
  if (logits.length !== labels.length)
    throw new I3DError('I3D_INVALID_ARGUMENT', `metrics: ${logits.length} predictions for ${labels.length} labels`);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let top5 = 0;
  logits.forEach((row, i) => {
    const y = labels[i]!;
    const order = row.map((_, j) => j).sort((a, b) => row[b]! - row[a]! || a - b);
    confusion[y]![order[0]!]! += 1;
    if (order.slice(0, 5).includes(y)) top5++;
  });
  const n = labels.length;
  return metricsFromConfusion(confusion, n ? top5 / n : Number.NaN);
}

/**
 * The metrics a confusion matrix holds (top-1, per class, mean class accuracy); top-5 cannot be rebuilt from it (it
 * needs each example's ranking), so it is given: as logged, or NaN when unknown.
 */
export function metricsFromConfusion(confusion: number[][], top5: number): ClassificationMetrics {
  const perClass = confusion.map((r, c) => {
    const support = r.reduce((a, b) => a + b, 0);
    return { support, accuracy: support ? r[c]! / support : Number.NaN };
  });
  const present = perClass.filter((p) => p.support > 0);
  const n = perClass.reduce((s, p) => s + p.support, 0);
  const correct = confusion.reduce((s, r, c) => s + r[c]!, 0);
  return {
    top1: n ? correct / n : Number.NaN,
    top5,
    meanClassAccuracy: present.length ? present.reduce((s, p) => s + p.accuracy, 0) / present.length : Number.NaN,
    confusion,
    perClass,
    count: n,
  };
}
