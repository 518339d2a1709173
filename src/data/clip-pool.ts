// Clips loaded for the batch generator and the feature extractor: a clip task (a stream's name, a video, its clip
// options, a flip) runs in worker threads of a WorkerPool (clip-worker.js, which looks the stream's source up in
// CLIP_SOURCES), or in this thread with 0 workers; either way the same clip, bit for bit. Each video goes to the same
// worker (by its path), so that a worker's decoded-video cache (frameCache) holds its own share of the videos.
import type { Stream } from '../core/stream.js';
import type { Clip, ClipOptions } from '../video/clip.js';
import { VideoError, type VideoErrorCode } from '../video/errors.js';
import { clipSource, mirrorClip, type ClipSource } from '../video/stream-clip.js';
import { reviveError, serveTasks, WorkerPool, type SerializedError } from './worker-pool.js';

export interface ClipTask {
  /** Which source loads it (the worker's table is keyed by stream). */
  stream: Stream;
  path: string;
  options: ClipOptions;
  /** Mirror left-right after loading (flow: channel 0, horizontal motion, changes sign). */
  flip: boolean;
}

/** Runs a clip task with the source of its stream in `sources`. */
export async function runClipTask(sources: Readonly<Partial<Record<Stream, ClipSource>>>, t: ClipTask): Promise<Clip> {
  const source = sources[t.stream];
  if (!source) throw new RangeError(`${t.path}: no clip source for stream '${t.stream}' in this worker`);
  const clip = await source.load(t.path, t.options);
  if (t.flip) mirrorClip(clip, t.stream);
  return clip;
}

/** Runs in a worker thread: answers clip tasks with `sources` (clip-worker.js: CLIP_SOURCES), moving each clip's buffer. */
export function serveClipTasks(sources: Readonly<Partial<Record<Stream, ClipSource>>>): void {
  serveTasks(async (t: ClipTask) => {
    const clip = await runClipTask(sources, t);
    return { value: clip, transfer: [clip.data.buffer as ArrayBuffer] };
  });
}

/** A VideoError stays one across threads (an unreadable video is skipped; other errors are not). */
export function reviveClipError(e: SerializedError): Error {
  const { code, file } = e.props;
  if (e.name !== 'VideoError' || typeof code !== 'string' || typeof file !== 'string') return reviveError(e);
  const v = new VideoError(code as VideoErrorCode, file, '');
  v.message = e.message;
  if (e.stack !== undefined) v.stack = e.stack;
  return v;
}

export interface ClipPoolOptions {
  /** Whose clips: 'rgb' frames or 'flow' (the source from CLIP_SOURCES, in workers too). */
  stream: Stream;
  /** Worker threads (0: load in this thread, still overlapping ffmpeg runs). */
  workers: number;
  /**
   * A source other than the stream's (tests): used in this thread; with workers, `workerModule` must serve it
   * (a module calling serveClipTasks({ [stream]: source })).
   */
  source?: ClipSource;
  workerModule?: URL;
}

export class ClipPool {
  readonly #stream: Stream;
  readonly #source: ClipSource;
  readonly #pool: WorkerPool<ClipTask, Clip> | null;

  constructor(o: ClipPoolOptions) {
    if (!Number.isInteger(o.workers) || o.workers < 0)
      throw new RangeError(`ClipPool: 'workers' must be an integer >= 0, got ${o.workers}`);
    this.#stream = o.stream;
    this.#source = o.source ?? clipSource(o.stream);
    if (this.#source.stream !== o.stream)
      throw new RangeError(`ClipPool: the source is for stream '${this.#source.stream}', not '${o.stream}'`);
    if (o.source && o.workers > 0 && !o.workerModule)
      throw new RangeError(`ClipPool: a custom source with workers needs a 'workerModule' serving it`);
    this.#pool =
      o.workers > 0
        ? new WorkerPool<ClipTask, Clip>({
            module: o.workerModule ?? new URL('./clip-worker.js', import.meta.url),
            size: o.workers,
            revive: reviveClipError,
            name: 'clip loader',
          })
        : null;
  }

  /** The clip of `path` (mirrored when `flip`); rejects with the loader's error (VideoError: unreadable video). */
  load(path: string, options: ClipOptions, flip = false): Promise<Clip> {
    const task: ClipTask = { stream: this.#stream, path, options, flip };
    if (this.#pool) return this.#pool.run(task, { label: path, key: path });
    return runClipTask({ [this.#stream]: this.#source }, task);
  }

  /** Ends the workers; loads not finished reject (I3D_POOL_CLOSED). */
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
