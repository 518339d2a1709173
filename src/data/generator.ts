// The batch generator (the seed's utils/sequence.py): per-epoch shuffle, augmentation (random crop, horizontal
// flip that negates the flow's x channel, temporal jitter), decoding and preprocessing in worker threads that
// prefetch ahead of the model, deterministic under a seed, bounded memory; unreadable videos are reported once
// with their reason and skipped, never ending an epoch.
import type { ClipOptions } from '../video/clip.js';
import { VideoError } from '../video/errors.js';
import type { ClipSource } from '../video/stream-clip.js';
import { ClipPool } from './clip-pool.js';
import type { Sample } from './dataset.js';
import { deriveSeed, mulberry32, shuffle } from '../core/rng.js';

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
  /**
   * A clip source other than the stream's (tests), for `stream`; with workers, `workerModule` must serve it (a module
   * calling serveClipTasks from clip-pool.ts).
   */
  source?: ClipSource;
  workerModule?: URL;
  /** Called once per unreadable video (default: a warning on stderr). */
  onSkip?: (path: string, error: Error) => void;
  /** This process's share of each epoch's order (data-parallel training: see src/distributed/sampler.ts). */
  select?: (order: number[]) => number[];
}

type Loaded = { ok: true; data: Float32Array; shape: number[]; totalFrames: number } | { ok: false; error: Error };

/**
 * Thrown for bugs and bad options, and a worker thread that died (I3D_WORKER_CRASHED: the epoch ends with it; the pool
 * goes on with a new thread); not for unreadable videos, which are skipped.
 */
function isSkippable(e: Error): boolean {
  return e instanceof VideoError;
}

export class BatchGenerator {
  readonly #o: Required<Omit<GeneratorOptions, 'onSkip' | 'source' | 'workerModule' | 'select'>> &
    Pick<GeneratorOptions, 'onSkip' | 'select'>;
  readonly #clips: ClipPool;
  /** Unreadable videos and why, filled as they are met (each reported once, then left out of later epochs). */
  readonly skipped = new Map<string, Error>();
  /** Frame counts learnt while loading, so later epochs skip the counting pass. */
  readonly #frames = new Map<string, number>();
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
    this.#clips = new ClipPool({
      stream: this.#o.stream,
      workers,
      ...(o.source && { source: o.source }),
      ...(o.workerModule && { workerModule: o.workerModule }),
    });
  }

  /** Batches per epoch (the last one may be smaller; fewer when videos are skipped). */
  get length(): number {
    return Math.ceil((this.#o.samples.length - this.skipped.size) / this.#o.batchSize);
  }

  /** The task for sample `i` in `epoch`: its augmentation comes from (seed, epoch, i), whichever worker runs it. */
  #task(epoch: number, i: number): { path: string; options: ClipOptions; flip: boolean } {
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
    return { path: s.path, options, flip };
  }

  /** Loads in the clip pool; never rejects (the error is in the result). */
  #load(t: { path: string; options: ClipOptions; flip: boolean }): Promise<Loaded> {
    return this.#clips.load(t.path, t.options, t.flip).then(
      (c): Loaded => ({ ok: true, data: c.data, shape: c.shape, totalFrames: c.totalFrames }),
      (e: unknown): Loaded => ({ ok: false, error: e as Error }),
    );
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
    await this.#clips.close();
  }
}
