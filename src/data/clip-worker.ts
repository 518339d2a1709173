// A worker thread of the batch generator: loads clips (decode with ffmpeg + preprocess) and sends them back,
// transferring the buffer. The loader module is pluggable (the optical-flow stream brings its own).
import { parentPort, workerData } from 'node:worker_threads';
import { flipHorizontal } from '../video/transforms.js';
import type { ClipOptions } from '../video/clip.js';
import { I3DError } from '../core/errors.js';

export interface ClipTask {
  id: number;
  path: string;
  options: ClipOptions;
  /** Mirror left-right after loading; `negateX` for optical flow (channel 0 is horizontal motion). */
  flip: boolean;
  negateX: boolean;
}

export type ClipResult =
  | { id: number; data: Float32Array; shape: number[]; totalFrames: number }
  | { id: number; error: { name: string; message: string; code?: string; file?: string } };

type Loader = (path: string, o: ClipOptions) => Promise<{ data: Float32Array; shape: number[]; totalFrames: number }>;

const port = parentPort;
if (!port) throw new I3DError('I3D_INTERNAL', 'clip-worker.js runs as a worker thread');
const { loaderModule } = workerData as { loaderModule: string };
const loader = ((await import(loaderModule)) as { loadClip: Loader }).loadClip;

port.on('message', (t: ClipTask) => {
  loader(t.path, t.options).then(
    (clip) => {
      if (t.flip) {
        const channels = clip.shape[clip.shape.length - 1]!;
        flipHorizontal(clip.data, clip.shape[clip.shape.length - 2]!, channels, t.negateX);
      }
      const r: ClipResult = { id: t.id, data: clip.data, shape: clip.shape, totalFrames: clip.totalFrames };
      port.postMessage(r, [clip.data.buffer as ArrayBuffer]);
    },
    (e: unknown) => {
      const err = e as Error & { code?: string; file?: string };
      const r: ClipResult = {
        id: t.id,
        error: {
          name: err?.name ?? 'Error',
          message: err?.message ?? String(e),
          ...(err?.code && { code: err.code }),
          ...(err?.file && { file: err.file }),
        },
      };
      port.postMessage(r);
    },
  );
});
