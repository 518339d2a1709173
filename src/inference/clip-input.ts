// Clips for I3D from files: a .npy clip in the official sample's format ([1, T, H, W, C] float32, already in
// [-1, 1]; a clip without the batch axis is accepted too).
import { extname } from 'node:path';
import { errorClass } from '../core/errors.js';
import { MIN_FRAMES, MIN_SIZE, type Stream } from '../models/i3d.js';
import { readNpyFloat32 } from '../io/npy.js';

/** A clip of the wrong shape, channels or value range for its stream (I3D_BAD_CLIP). */
export class ClipError extends errorClass('ClipError', 'I3D_BAD_CLIP') {}

export interface I3DClip {
  data: Float32Array;
  /** [1, T, H, W, C] */
  shape: [number, number, number, number, number];
}

/** Checks a clip's shape, channels and value range for a stream; `source` names it in errors. */
export function checkClip(data: Float32Array, shape: readonly number[], stream: Stream, source: string): I3DClip {
  const channels = stream === 'rgb' ? 3 : 2;
  const s = shape.length === 4 ? [1, ...shape] : [...shape];
  const want = `[1, frames >= ${MIN_FRAMES}, height >= ${MIN_SIZE}, width >= ${MIN_SIZE}, ${channels}]`;
  if (s.length !== 5 || s[0] !== 1)
    throw new ClipError(`${source}: shape [${shape.join(', ')}] is not a clip; a ${stream} clip is ${want}`);
  if (s[4] !== channels)
    throw new ClipError(
      `${source}: ${s[4]} channels, but the ${stream} stream takes ${channels} (${stream === 'rgb' ? 'R, G, B' : 'flow x, y'})`,
    );
  if (s[1]! < MIN_FRAMES || s[2]! < MIN_SIZE || s[3]! < MIN_SIZE)
    throw new ClipError(`${source}: shape [${shape.join(', ')}]; I3D needs ${want}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    // An indexed loop: for-of over a typed array of ten million values costs ten times more.
    const x = data[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new ClipError(`${source}: the clip holds NaN or infinite values`);
  if (lo < -1.0001 || hi > 1.0001)
    throw new ClipError(
      `${source}: values span [${lo}, ${hi}], expected [-1, 1] (official preprocessing: ` +
        `${stream === 'rgb' ? 'pixel / 127.5 - 1' : 'flow clipped to [-20, 20] / 20'})`,
    );
  return { data, shape: s as I3DClip['shape'] };
}

/** Reads a .npy clip for a stream. */
export function readClipNpy(path: string, stream: Stream): I3DClip {
  if (extname(path).toLowerCase() !== '.npy') throw new ClipError(`${path}: not a .npy file`);
  const { data, shape } = readNpyFloat32(path);
  return checkClip(data, shape, stream, path);
}
