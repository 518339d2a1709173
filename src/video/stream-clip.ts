// The clip loader of a stream: RGB frames (clip.ts) or TV-L1 flow (flow-clip.ts), with the same options.
import type { Stream } from '../core/stream.js';
import { loadClip, type Clip, type ClipOptions } from './clip.js';
import { loadClip as loadFlowClip } from './flow-clip.js';

/** The module the batch generator's workers load clips with (undefined: the RGB default). */
export function clipLoaderModule(stream: Stream): string | undefined {
  return stream === 'flow' ? new URL('./flow-clip.js', import.meta.url).href : undefined;
}

export function loadStreamClip(stream: Stream, file: string, o: ClipOptions): Promise<Clip> {
  return stream === 'flow' ? loadFlowClip(file, o) : loadClip(file, o);
}
