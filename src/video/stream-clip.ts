// Clip sources: what loads a video file as a clip for each input stream, RGB frames (clip.ts) or TV-L1 flow
// (flow-clip.ts), with the same options. Chosen by stream name, in this thread and in worker threads alike (a
// worker gets the stream's name in its task and looks the source up in CLIP_SOURCES).
import type { Stream } from '../core/stream.js';
import { loadClip, type Clip, type ClipOptions } from './clip.js';
import { loadClip as loadFlowClip } from './flow-clip.js';
import { flipHorizontal } from './transforms.js';

/** Loads video files as clips of one stream. */
export interface ClipSource {
  readonly stream: Stream;
  /** The clip of `file`; errors are VideoErrors naming the file (unreadable video) or RangeErrors (bad options). */
  load(file: string, options: ClipOptions): Promise<Clip>;
}

export const rgbSource: ClipSource = { stream: 'rgb', load: loadClip };
export const flowSource: ClipSource = { stream: 'flow', load: loadFlowClip };

/** The source of each stream. */
export const CLIP_SOURCES: Readonly<Record<Stream, ClipSource>> = { rgb: rgbSource, flow: flowSource };

export function clipSource(stream: Stream): ClipSource {
  const s = (CLIP_SOURCES as Partial<Record<string, ClipSource>>)[stream];
  if (!s) throw new RangeError(`clipSource: stream must be 'rgb' or 'flow', got ${String(stream)}`);
  return s;
}

export function loadStreamClip(stream: Stream, file: string, o: ClipOptions): Promise<Clip> {
  return clipSource(stream).load(file, o);
}

/**
 * Mirrors a loaded clip left-right, in place (the data of [..., W, C] clips); for flow, channel 0 (horizontal motion)
 * changes sign. The same as loading with `flip: true`.
 */
export function mirrorClip(clip: { data: Float32Array; shape: readonly number[] }, stream: Stream): void {
  flipHorizontal(clip.data, clip.shape[clip.shape.length - 2]!, clip.shape[clip.shape.length - 1]!, stream === 'flow');
}
