// Window predictions over a long video from one streamed feature map (src/inference/chunked.ts): a window of frames
// [start, end) takes the Mixed_5c steps whose stride cell [8j, 8j + 8) lies inside it, and its logits are the head's
// (AvgPool (2, 7, 7), logits convolution, mean) over those steps, from the per-pair logits the chunked run keeps.
// Steps near a window's edges see the frames around the window (the whole video's map), not padding.
import { meanRows } from './chunked.js';
import type { Prediction } from './classify.js';
import { I3DError } from '../core/errors.js';

/** One window's prediction over a long video (i3d predict --window). */
export interface WindowPrediction extends Prediction {
  /** Seconds from the start of the video. */
  start: number;
  end: number;
}

export interface WindowSpan {
  /** Frames [start, end) of the video. */
  start: number;
  end: number;
}

/** Windows of `win` frames every `step` frames over `total` frames: the first one always, then those that fit whole. */
export function windowSpans(total: number, win: number, step: number): WindowSpan[] {
  const spans: WindowSpan[] = [];
  for (let start = 0; start === 0 || start + win <= total; start += step) {
    spans.push({ start, end: Math.min(total, start + win) });
    if (start + win >= total) break;
  }
  return spans;
}

/** The Mixed_5c steps [first, last) of a window (stride: frames per step). */
export function windowSteps(span: WindowSpan, stride: number, steps: number): [number, number] {
  const first = Math.ceil(span.start / stride);
  const last = Math.min(steps, Math.floor(span.end / stride), span.end === span.start ? first : steps);
  return [first, Math.max(first, last)];
}

/** A window's logits from the per-pair logits of the whole map (`rows[t]`: steps t and t + 1). */
export function windowLogits(rows: readonly Float32Array[], span: WindowSpan, stride: number, steps: number): Float32Array {
  const [first, last] = windowSteps(span, stride, steps);
  if (last - first < 2)
    throw new I3DError(
      'I3D_USAGE',
      `window frames ${span.start}-${span.end} span ${last - first} feature step(s); the head needs 2 (${2 * stride} frames): use a longer --window`,
    );
  return meanRows(rows, first, last - 1);
}
