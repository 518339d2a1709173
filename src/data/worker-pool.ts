// A fixed pool of worker threads running tasks: the batch generator's and the feature extractor's clip loading.
//
// - Routing: tasks with the same key (a video's path) go to the same worker whenever it has room, so that a
//   worker's in-memory caches (the decoded-video frame cache) hold their own share of the videos; a worker with
//   nothing at all to do takes a task another worker would queue, and a worker that finishes a task takes the next of
//   its own queue, else of the longest one.
// - `slots` tasks run at once per worker (default 2: one clip's ffmpeg decode overlaps another's resizing).
// - Results come back by structured clone with their transfer list (a clip's buffer moves, it is not copied).
// - An error a task throws in its worker rejects that task (revived with its name, message, code and file).
// - A worker that dies (an uncaught exception, process.exit, out of memory, an unreadable message) fails the tasks it
//   held with I3D_WORKER_CRASHED naming each task; a fresh worker takes its place for the tasks queued behind them.
// - close() rejects every task not yet finished with I3D_POOL_CLOSED and ends the workers. No task waits forever.
// Idle workers do not keep the process alive; busy ones do (their results are awaited).
//
// The worker side: a module that calls serveTasks(handler).
import { parentPort, Worker, type TransferListItem } from 'node:worker_threads';
import { I3DError, isErrorCode } from '../core/errors.js';

/** An error as it crosses from a worker: its name, message, stack and own primitive properties (code, file...). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, string | number | boolean>;
}

/** What a task's handler gives back: the value, and the buffers to move rather than copy. */
export interface TaskResult<R> {
  value: R;
  transfer?: readonly TransferListItem[];
}

type Request<T> = { id: number; task: T };
type Reply<R> = { id: number; value: R } | { id: number; error: SerializedError };

export interface WorkerPoolOptions {
  /** The worker module; it calls serveTasks(handler). */
  module: URL;
  /** Worker threads (at least 1). */
  size: number;
  /** Tasks one worker runs at a time (default 2). */
  slots?: number;
  /** The `workerData` of every worker. */
  workerData?: unknown;
  /** Turns an error thrown by a task in a worker back into an Error (default: `reviveError`). */
  revive?: (e: SerializedError) => Error;
  /** What the workers do, for messages (default 'worker'): "the clip loader thread running it died". */
  name?: string;
}

export interface RunOptions {
  /** Names the task in errors (a video's path): messages start with it. */
  label: string;
  /** Tasks with the same key go to the same worker (when it has room). Default: any worker with room. */
  key?: string;
}

interface Job<T, R> {
  id: number;
  task: T;
  label: string;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

/** The error of a task in a worker, as it is sent to the main thread. */
export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), props: {} };
  const props: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(e)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') props[k] = v;
  return { name: e.name, message: e.message, ...(e.stack !== undefined && { stack: e.stack }), props };
}

/** A serialized error as an Error again: an I3DError for a catalogue code, else an Error with its name and props. */
export function reviveError(e: SerializedError): Error {
  const code = e.props.code;
  // Any catalogue error (I3DError or a subclass) comes back as an I3DError with its code, so its exit code and HTTP
  // status survive the thread; its class name is kept as `name`.
  const err: Error = isErrorCode(code) ? new I3DError(code, e.message) : new Error(e.message);
  err.name = e.name;
  for (const [k, v] of Object.entries(e.props)) if (k !== 'code') (err as unknown as Record<string, unknown>)[k] = v;
  if (!(err instanceof I3DError) && code !== undefined) Object.assign(err, { code });
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** Runs in a worker thread: answers the pool's tasks with `handler`. */
export function serveTasks<T, R>(handler: (task: T) => Promise<TaskResult<R>> | TaskResult<R>): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks: this module runs as a worker thread of a WorkerPool');
  port.on('message', ({ id, task }: Request<T>) => {
    const fail = (e: unknown) => port.postMessage({ id, error: serializeError(e) } satisfies Reply<R>);
    Promise.resolve()
      .then(() => handler(task))
      .then((r) => {
        try {
          port.postMessage({ id, value: r.value } satisfies Reply<R>, r.transfer);
        } catch (e) {
          fail(e); // a value that cannot be cloned
        }
      }, fail);
  });
}

/** FNV-1a of a string. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

export class WorkerPool<T, R> {
  readonly #o: Required<Omit<WorkerPoolOptions, 'workerData'>> & Pick<WorkerPoolOptions, 'workerData'>;
  /** The worker of each place; null until its first task, and after a crash until its next one. */
  readonly #workers: (Worker | null)[];
  /** Free slots per place. */
  readonly #free: number[];
  /** Tasks waiting, per place. */
  readonly #queues: Job<T, R>[][];
  /** Tasks in a worker, by id, with their place. */
  readonly #running = new Map<number, { job: Job<T, R>; at: number }>();
  /** What a worker reported before it exited (its 'error' or 'messageerror'). */
  readonly #deaths = new WeakMap<Worker, Error>();
  #nextId = 0;
  #closed = false;

  constructor(o: WorkerPoolOptions) {
    const slots = o.slots ?? 2;
    if (!Number.isInteger(o.size) || o.size < 1) throw new RangeError(`WorkerPool: 'size' must be a positive integer, got ${o.size}`);
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`WorkerPool: 'slots' must be a positive integer, got ${slots}`);
    this.#o = {
      module: o.module,
      size: o.size,
      slots,
      workerData: o.workerData,
      revive: o.revive ?? reviveError,
      name: o.name ?? 'worker',
    };
    this.#workers = Array.from({ length: o.size }, () => null);
    this.#free = Array.from({ length: o.size }, () => slots);
    this.#queues = Array.from({ length: o.size }, () => []);
  }

  get size(): number {
    return this.#o.size;
  }

  /** Runs `task` in a worker; rejects with the task's error, I3D_WORKER_CRASHED or I3D_POOL_CLOSED. */
  run(task: T, o: RunOptions): Promise<R> {
    if (this.#closed) return Promise.reject(this.#closedError(o.label));
    return new Promise<R>((resolve, reject) => {
      const job: Job<T, R> = { id: this.#nextId++, task, label: o.label, resolve, reject };
      const n = this.#o.size;
      if (o.key !== undefined) {
        const home = hash(o.key) % n;
        // Its own worker when it has room, else a worker with nothing at all to do, else its own worker's queue.
        const i = this.#free[home]! > 0 ? home : this.#free.findIndex((f) => f === this.#o.slots);
        if (i >= 0) this.#send(i, job);
        else this.#queues[home]!.push(job);
        return;
      }
      const most = this.#free.reduce((best, f, j) => (f > this.#free[best]! ? j : best), 0);
      if (this.#free[most]! > 0) return this.#send(most, job);
      const shortest = this.#queues.reduce((best, q, j) => (q.length < this.#queues[best]!.length ? j : best), 0);
      this.#queues[shortest]!.push(job);
    });
  }

  /** Rejects the tasks not finished (I3D_POOL_CLOSED) and ends the workers. */
  async close(): Promise<void> {
    this.#closed = true;
    const jobs = [...[...this.#running.values()].map((r) => r.job), ...this.#queues.flatMap((q) => q.splice(0))];
    this.#running.clear();
    for (const job of jobs) job.reject(this.#closedError(job.label));
    const workers = this.#workers.splice(0).filter((w): w is Worker => w !== null);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  #closedError(label: string): I3DError {
    return new I3DError('I3D_POOL_CLOSED', `${label}: not finished, the ${this.#o.name} pool was closed first`);
  }

  #spawn(i: number): Worker {
    const w = new Worker(this.#o.module, { workerData: this.#o.workerData });
    w.on('message', (r: Reply<R>) => this.#reply(i, w, r));
    w.on('error', (e) => this.#deaths.set(w, e));
    w.on('messageerror', (e) => {
      // A reply that cannot be read back: its task cannot be told apart, so the worker goes as if it had crashed.
      this.#deaths.set(w, new Error(`a message from it could not be deserialized (${e.message})`));
      void w.terminate();
    });
    w.on('exit', (code) => this.#exited(i, w, code));
    this.#workers[i] = w;
    return w;
  }

  #send(i: number, job: Job<T, R>, takeSlot = true): void {
    if (takeSlot) this.#free[i]!--;
    const w = this.#workers[i] ?? this.#spawn(i);
    this.#running.set(job.id, { job, at: i });
    w.ref();
    try {
      w.postMessage({ id: job.id, task: job.task } satisfies Request<T>);
    } catch (e) {
      // A task that cannot be cloned.
      this.#running.delete(job.id);
      job.reject(e as Error);
      this.#release(i);
    }
  }

  #reply(i: number, w: Worker, r: Reply<R>): void {
    if (this.#workers[i] !== w) return;
    const run = this.#running.get(r.id);
    if (!run) return;
    this.#running.delete(r.id);
    if ('error' in r) run.job.reject(this.#o.revive(r.error));
    else run.job.resolve(r.value);
    this.#release(i);
  }

  /** A slot of place `i` is free: its next task, or another queue's, or rest. */
  #release(i: number): void {
    if (this.#closed) return;
    const next = this.#next(i);
    if (next) return this.#send(i, next, false);
    this.#free[i]!++;
    if (this.#free[i] === this.#o.slots) this.#workers[i]?.unref();
  }

  /** The next task for place `i`: the first of its queue, else of the longest queue. */
  #next(i: number): Job<T, R> | undefined {
    const longest = this.#queues.reduce((best, q, j) => (q.length > this.#queues[best]!.length ? j : best), i);
    return this.#queues[i]!.shift() ?? this.#queues[longest]!.shift();
  }

  #exited(i: number, w: Worker, code: number): void {
    if (this.#workers[i] !== w) return; // closed, or already replaced
    this.#workers[i] = null;
    const death = this.#deaths.get(w);
    const why = death ? `${death.name}: ${death.message}` : `it exited with code ${code}`;
    const held = [...this.#running.values()].filter((r) => r.at === i).map((r) => r.job);
    for (const job of held) {
      this.#running.delete(job.id);
      // The tasks it ran at the same time: any of them may have killed it.
      const others = held.filter((o) => o !== job).map((o) => o.label);
      const also = others.length ? ` while it also ran ${others.join(', ')}` : '';
      job.reject(
        new I3DError(
          'I3D_WORKER_CRASHED',
          `${job.label}: the ${this.#o.name} thread running it died (${why})${also}; this task failed, a new thread takes the next ones`,
          death ? { cause: death } : undefined,
        ),
      );
    }
    // Its slots are free again; the tasks queued for it go to a new worker (started by #send).
    this.#free[i] = this.#o.slots;
    for (let next = this.#next(i); next; next = this.#free[i]! > 0 ? this.#next(i) : undefined) this.#send(i, next);
  }
}
