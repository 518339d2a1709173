// The batch generator (the seed's utils/sequence.py): per-epoch shuffle, augmentation (random crop, horizontal
// flip that negates the flow's x channel, temporal jitter), decoding and preprocessing in worker threads that
// prefetch ahead of the model, deterministic under a seed, bounded memory; unreadable videos are reported once
// with their reason and skipped, never ending an epoch.
import { Worker } from 'node:worker_threads';
import { loadClip, type ClipOptions } from '../video/clip.js';
import { VideoError, type VideoErrorCode } from '../video/errors.js';
import { flipHorizontal } from '../video/transforms.js';
import type { ClipResult, ClipTask } from './clip-worker.js';
import type { Sample } from './dataset.js';
import { deriveSeed, mulberry32, shuffle } from './rng.js';

export interface Batch {
  /** Clips [B, T, size, size, C] (or [B, S, T, size, size, C] with segments), float32, C order. */
  x: Float32Array;
  shape: number[];
  /** Class indices [B]. */
  labels: Int32Array;
  /** One-hot labels [B, classes] (categorical cross-entropy, as the seed). */
  y: Float32Array;
  paths: string[];
  /** The epoch and this batch's index in it. */
  epoch: number;
  index: number;
}

export interface GeneratorOptions {
  samples: readonly Sample[];
  /** Number of classes (the one-hot width). */
  classes: number;
  batchSize: number;
  /** What a clip is: frames, segments, size, fps, limits (crop, flip, seed and jitter are set per sample). */
  clip: Omit<ClipOptions, 'crop' | 'flip' | 'seed' | 'jitter' | 'info' | 'totalFrames'>;
  /** Training (default true): shuffle every epoch, random crop, random flip, temporal jitter. Else centre, in order. */
  training?: boolean;
  /** Random horizontal flips in training (default true). */
  flip?: boolean;
  /** 'rgb' (default) or 'flow': a flip also negates channel 0 (horizontal motion) of flow clips. */
  stream?: 'rgb' | 'flow';
  /** Seed of shuffles and augmentation (default 0): the same seed gives the same batches. */
  seed?: number;
  /** Worker threads decoding and preprocessing (default 2; 0: in this thread, still overlapping ffmpeg runs). */
  workers?: number;
  /** Batches prepared ahead of the consumer (default 2). Memory holds at most (prefetch + 1) batches of clips. */
  prefetch?: number;
  /** Module whose `loadClip(path, options)` loads a clip (default: ../video/clip.js). For the flow stream. */
  loaderModule?: string;
  /** Called once per unreadable video (default: a warning on stderr). */
  onSkip?: (path: string, error: Error) => void;
  /** This process's share of each epoch's order (data-parallel training: see src/distributed/sampler.ts). */
  select?: (order: number[]) => number[];
}

type Loaded = { ok: true; data: Float32Array; shape: number[]; totalFrames: number } | { ok: false; error: Error };

function reviveError(e: { name: string; message: string; code?: string; file?: string }): Error {
  if (e.name === 'VideoError' && e.code && e.file !== undefined) {
    const v = new VideoError(e.code as VideoErrorCode, e.file, '');
    v.message = e.message;
    return v;
  }
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/**
 * A fixed pool of worker threads running clip tasks, two at a time per worker so that one clip's ffmpeg decode
 * overlaps the other's resizing in the thread. Each video goes to the same worker every time (by its path), so that
 * each worker's decoded-video cache (frameCacheMB) holds its own share of the videos instead of all of them: every
 * video is decoded once, not once per worker. A worker with nothing of its own to do takes another's waiting task.
 */
class Pool {
  static readonly SLOTS = 2;
  readonly #workers: Worker[] = [];
  /** Free slots per worker. */
  readonly #free: number[] = [];
  /** Tasks waiting, per worker. */
  readonly #queues: { task: ClipTask; resolve: (r: Loaded) => void }[][] = [];
  readonly #waiting = new Map<number, { resolve: (r: Loaded) => void; worker: number }>();
  #failed: Error | null = null;

  constructor(n: number, loaderModule: string) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./clip-worker.js', import.meta.url), { workerData: { loaderModule } });
      w.on('message', (r: ClipResult) => {
        const job = this.#waiting.get(r.id);
        if (!job) return;
        this.#waiting.delete(r.id);
        job.resolve(
          'error' in r
            ? { ok: false, error: reviveError(r.error) }
            : { ok: true, data: r.data, shape: r.shape, totalFrames: r.totalFrames },
        );
        this.#release(i);
      });
      w.on('error', (e) => this.#fail(e));
      w.unref();
      this.#workers.push(w);
      this.#free.push(Pool.SLOTS);
      this.#queues.push([]);
    }
  }

  #fail(e: Error): void {
    this.#failed = e;
    for (const [, job] of this.#waiting) job.resolve({ ok: false, error: e });
    this.#waiting.clear();
    for (const q of this.#queues) for (const t of q.splice(0)) t.resolve({ ok: false, error: e });
  }

  /** The worker a video belongs to (FNV-1a of its path). */
  #home(path: string): number {
    let h = 0x811c9dc5;
    for (let k = 0; k < path.length; k++) h = Math.imul(h ^ path.charCodeAt(k), 0x01000193);
    return (h >>> 0) % this.#workers.length;
  }

  #release(i: number): void {
    const longest = this.#queues.reduce((best, q, j) => (q.length > this.#queues[best]!.length ? j : best), i);
    const next = this.#queues[i]!.shift() ?? this.#queues[longest]!.shift();
    if (next) return this.#send(i, next.task, next.resolve, false);
    this.#free[i]!++;
    // A worker with nothing to do does not keep the process alive; a busy one does (its result is awaited).
    if (this.#free[i] === Pool.SLOTS) this.#workers[i]!.unref();
  }

  #send(i: number, task: ClipTask, resolve: (r: Loaded) => void, takeSlot = true): void {
    if (takeSlot) this.#free[i]!--;
    this.#waiting.set(task.id, { resolve, worker: i });
    this.#workers[i]!.ref();
    this.#workers[i]!.postMessage(task);
  }

  run(task: ClipTask): Promise<Loaded> {
    if (this.#failed) return Promise.resolve({ ok: false, error: this.#failed });
    return new Promise((resolve) => {
      const home = this.#home(task.path);
      // Its own worker when it has a free slot, else a worker with nothing at all to do, else its own worker's queue.
      const i = this.#free[home]! > 0 ? home : this.#free.findIndex((f) => f === Pool.SLOTS);
      if (i >= 0) this.#send(i, task, resolve);
      else this.#queues[home]!.push({ task, resolve });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Thrown for bugs and bad options (not for unreadable videos, which are skipped). */
function isSkippable(e: Error): boolean {
  return e instanceof VideoError;
}

export class BatchGenerator {
  readonly #o: Required<Omit<GeneratorOptions, 'onSkip' | 'loaderModule' | 'select'>> & Pick<GeneratorOptions, 'onSkip' | 'select'>;
  readonly #pool: Pool | null;
  readonly #loaderModule: string;
  /** Unreadable videos and why, filled as they are met (each reported once, then left out of later epochs). */
  readonly skipped = new Map<string, Error>();
  /** Frame counts learnt while loading, so later epochs skip the counting pass. */
  readonly #frames = new Map<string, number>();
  #nextId = 0;
  #closed = false;

  constructor(o: GeneratorOptions) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new RangeError(`BatchGenerator: 'batchSize' must be a positive integer, got ${o.batchSize}`);
    if (!Number.isInteger(o.classes) || o.classes < 1)
      throw new RangeError(`BatchGenerator: 'classes' must be a positive integer, got ${o.classes}`);
    if (!o.samples.length) throw new RangeError(`BatchGenerator: no samples`);
    const bad = o.samples.find((s) => !(Number.isInteger(s.label) && s.label >= 0 && s.label < o.classes));
    if (bad) throw new RangeError(`BatchGenerator: ${bad.path} has label ${bad.label}, outside [0, ${o.classes})`);
    const workers = o.workers ?? 2;
    const prefetch = o.prefetch ?? 2;
    if (!Number.isInteger(workers) || workers < 0)
      throw new RangeError(`BatchGenerator: 'workers' must be an integer >= 0, got ${workers}`);
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new RangeError(`BatchGenerator: 'prefetch' must be a positive integer, got ${prefetch}`);
    this.#o = {
      samples: [...o.samples],
      classes: o.classes,
      batchSize: o.batchSize,
      clip: o.clip,
      training: o.training ?? true,
      flip: o.flip ?? true,
      stream: o.stream ?? 'rgb',
      seed: o.seed ?? 0,
      workers,
      prefetch,
      onSkip: o.onSkip,
      select: o.select,
    };
    this.#loaderModule = o.loaderModule ?? new URL('../video/clip.js', import.meta.url).href;
    this.#pool = workers > 0 ? new Pool(workers, this.#loaderModule) : null;
  }

  /** Batches per epoch (the last one may be smaller; fewer when videos are skipped). */
  get length(): number {
    return Math.ceil((this.#o.samples.length - this.skipped.size) / this.#o.batchSize);
  }

  /** The task for sample `i` in `epoch`: its augmentation comes from (seed, epoch, i), whichever worker runs it. */
  #task(epoch: number, i: number): ClipTask {
    const o = this.#o;
    const s = o.samples[i]!;
    const seed = deriveSeed(o.seed, epoch, i);
    const flip = o.training && o.flip && mulberry32(deriveSeed(seed, 3))() < 0.5;
    const total = this.#frames.get(s.path);
    const options: ClipOptions = {
      ...o.clip,
      crop: o.training ? 'random' : 'center',
      jitter: o.training,
      seed,
      ...(total !== undefined && { totalFrames: total }),
    };
    return { id: this.#nextId++, path: s.path, options, flip, negateX: o.stream === 'flow' };
  }

  async #load(task: ClipTask): Promise<Loaded> {
    if (this.#pool) return this.#pool.run(task);
    try {
      const { loadClip: load } = this.#loaderModule.endsWith('/video/clip.js')
        ? { loadClip }
        : ((await import(this.#loaderModule)) as { loadClip: typeof loadClip });
      const c = await load(task.path, task.options);
      if (task.flip) flipHorizontal(c.data, c.shape[c.shape.length - 2]!, c.shape[c.shape.length - 1]!, task.negateX);
      return { ok: true, data: c.data, shape: c.shape, totalFrames: c.totalFrames };
    } catch (e) {
      return { ok: false, error: e as Error };
    }
  }

  /** The sample order of an epoch: shuffled with (seed, epoch) in training, as given otherwise. */
  order(epoch: number): number[] {
    const idx = this.#o.samples.map((_, i) => i);
    const order = this.#o.training ? shuffle(idx, mulberry32(deriveSeed(this.#o.seed, epoch, 0x5eed))) : idx;
    return this.#o.select ? this.#o.select(order) : order;
  }

  /**
   * Yields the batches of `epoch`. Loading runs ahead by `prefetch` batches; unreadable videos are skipped
   * (reported once) and the batch is filled from the next samples.
   */
  async *epoch(epoch: number): AsyncGenerator<Batch, void, undefined> {
    if (this.#closed) throw new Error('BatchGenerator: closed');
    const o = this.#o;
    const order = this.order(epoch).filter((i) => !this.skipped.has(o.samples[i]!.path));
    const ahead = o.prefetch * o.batchSize;
    const pending: { i: number; p: Promise<Loaded> }[] = [];
    let next = 0;
    const fill = () => {
      while (pending.length < ahead && next < order.length) {
        const i = order[next++]!;
        pending.push({ i, p: this.#load(this.#task(epoch, i)) });
      }
    };
    let index = 0;
    let items: { i: number; data: Float32Array; shape: number[] }[] = [];
    try {
      fill();
      while (pending.length) {
        const { i, p } = pending.shift()!;
        fill();
        const r = await p;
        const s = o.samples[i]!;
        if (!r.ok) {
          if (!isSkippable(r.error)) throw r.error;
          if (!this.skipped.has(s.path)) {
            this.skipped.set(s.path, r.error);
            if (o.onSkip) o.onSkip(s.path, r.error);
            else console.warn(`i3d: skipping ${r.error.message}`);
          }
          continue;
        }
        this.#frames.set(s.path, r.totalFrames);
        items.push({ i, data: r.data, shape: r.shape });
        if (items.length === o.batchSize || (next >= order.length && !pending.length)) {
          yield this.#batch(items, epoch, index++);
          items = [];
        }
      }
      if (items.length) yield this.#batch(items, epoch, index++);
    } finally {
      // Stopped early: let the loads in flight finish (their ffmpeg runs end) before returning.
      await Promise.allSettled(pending.map((x) => x.p));
    }
  }

  #batch(items: { i: number; data: Float32Array; shape: number[] }[], epoch: number, index: number): Batch {
    const o = this.#o;
    const one = items[0]!.shape.slice(1);
    const len = items[0]!.data.length;
    const x = new Float32Array(items.length * len);
    const labels = new Int32Array(items.length);
    const y = new Float32Array(items.length * o.classes);
    items.forEach((it, k) => {
      if (it.data.length !== len)
        throw new Error(
          `BatchGenerator: clip of ${o.samples[it.i]!.path} has shape [${it.shape.join(', ')}], expected [1, ${one.join(', ')}]`,
        );
      x.set(it.data, k * len);
      labels[k] = o.samples[it.i]!.label;
      y[k * o.classes + labels[k]!] = 1;
    });
    return { x, shape: [items.length, ...one], labels, y, paths: items.map((it) => o.samples[it.i]!.path), epoch, index };
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool?.close();
  }
}
