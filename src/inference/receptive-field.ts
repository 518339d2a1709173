// The temporal geometry of I3D up to Mixed_5c, from its layer list: the total stride, the receptive field and where
// each output step's receptive field starts, for a clip of a given length. TensorFlow 'SAME' padding makes the last of
// these depend on the clip's length (a stride-2 layer pads one frame less before an even-length input than before an
// odd one), so it is computed for the whole video's length, as the one-pass model sees it.
import type { I3D, I3DLayer } from '../models/i3d.js';
import { resolvePadding } from '../nn/functional.js';
import { I3DError } from '../core/errors.js';
import { ArgumentError } from '../tensor/validate.js';

/** One layer's temporal kernel, stride and 'SAME' padding before, for an input of `frames` steps. */
interface TemporalStep {
  kernel: number;
  stride: number;
  padBefore: number;
}

/** The temporal extent of a layer as one op (an Inception block: its widest branch, all at stride 1). */
function temporalKernel(l: I3DLayer): { kernel: number; stride: number } {
  if (l.kind === 'unit') return { kernel: l.unit.kernel[0], stride: l.unit.stride[0] };
  if (l.kind === 'pool') return { kernel: l.kernel[0], stride: l.stride[0] };
  // Branches 0-2 are chains of units; branch 3 is a 3x3x3 max pool (stride 1) then its units.
  const widest = l.block.units.map((chain, b) => chain.reduce((k, u) => k + u.kernel[0] - 1, b === 3 ? 3 : 1));
  for (const chain of l.block.units)
    for (const u of chain)
      if (u.stride[0] !== 1) throw new I3DError('I3D_INTERNAL', `receptive field: ${u.name} has temporal stride ${u.stride[0]}, not 1`);
  return { kernel: Math.max(...widest), stride: 1 };
}

export interface TemporalGeometry {
  /** Frames of the clip the geometry is for. */
  frames: number;
  /** Frames between consecutive output steps (8 for I3D). */
  stride: number;
  /** Frames that one output step depends on (99 for I3D). */
  receptive: number;
  /** Output step j depends on frames [stride * j - padBefore, stride * j - padBefore + receptive - 1] (some outside the clip). */
  padBefore: number;
  /** Output steps of Mixed_5c for this clip: ceil(frames / stride) after each strided layer. */
  outputs: number;
}

/** The temporal geometry of `model` (up to Mixed_5c) for a clip of `frames` frames. */
export function temporalGeometry(model: I3D, frames: number): TemporalGeometry {
  if (!Number.isInteger(frames) || frames < 1)
    throw new ArgumentError(`temporalGeometry: frames must be a positive integer, got ${frames}`);
  let jump = 1;
  let receptive = 1;
  let padBefore = 0;
  let n = frames;
  const steps: TemporalStep[] = [];
  for (const l of model.layers) {
    const { kernel, stride } = temporalKernel(l);
    // 'SAME' as the layer itself resolves it (the odd frame after); only the temporal pair is used.
    const before = resolvePadding('receptive field', 'same', [n, 1, 1], [kernel, 1, 1], [stride, 1, 1])[0]!;
    steps.push({ kernel, stride, padBefore: before });
    padBefore += jump * before;
    receptive += jump * (kernel - 1);
    jump *= stride;
    n = Math.ceil(n / stride);
  }
  return { frames, stride: jump, receptive, padBefore, outputs: n };
}

/** The frames [first, last] (inclusive, possibly outside [0, frames)) that output step `j` depends on. */
export function receptiveRange(g: TemporalGeometry, j: number): [number, number] {
  const first = g.stride * j - g.padBefore;
  return [first, first + g.receptive - 1];
}
