// A bounded queue per model: at most `slots + maxQueue` requests admitted at once (uploading, decoding, waiting or
// running); past that, 429 with Retry-After. Admitted requests take a model slot (one model instance each) in
// arrival order. A request that is cancelled while it waits leaves the queue; its slot goes to the next.
import { ServeError } from './errors.js';

export interface Lease<R> {
  readonly runner: R;
  /** Seconds spent waiting for the slot. */
  readonly waitSec: number;
}

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

export class Scheduler<R> {
  readonly #free: R[];
  /** Model instances: requests that can run at once. */
  readonly slots: number;
  readonly #waiters: Waiter<R>[] = [];
  #admitted = 0;
  #running = 0;

  constructor(
    runners: readonly R[],
    /** Requests that may wait beyond those the slots take. */
    readonly maxQueue: number,
    /** The Retry-After of a 429, in seconds. */
    readonly retryAfterSec = 1,
  ) {
    if (!runners.length) throw new RangeError('Scheduler: at least one runner');
    this.#free = [...runners];
    this.slots = runners.length;
  }

  /** Requests admitted and not done (uploading, decoding, queued or running). */
  get admitted(): number {
    return this.#admitted;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  get running(): number {
    return this.#running;
  }

  /** Admits a request or throws QUEUE_FULL (429). Call the returned `done` exactly once when the request ends. */
  admit(model: string): () => void {
    if (this.#admitted >= this.slots + this.maxQueue)
      throw new ServeError(
        'QUEUE_FULL',
        `model '${model}' is busy: ${this.#admitted} requests are in progress or queued (the limit); retry later`,
        this.retryAfterSec,
      );
    this.#admitted++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#admitted--;
    };
  }

  /** Runs `fn` on a free runner (waiting in arrival order); a signal that aborts while waiting rejects with its reason. */
  async run<T>(signal: AbortSignal | undefined, fn: (lease: Lease<R>) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const t0 = performance.now();
    const runner = await this.#acquire(signal);
    this.#running++;
    try {
      return await fn({ runner, waitSec: (performance.now() - t0) / 1000 });
    } finally {
      this.#running--;
      this.#release(runner);
    }
  }

  #acquire(signal: AbortSignal | undefined): Promise<R> {
    const r = this.#free.pop();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise<R>((resolve, reject) => {
      const w: Waiter<R> = {
        resolve: (x) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(x);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  #release(r: R): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(r);
    else this.#free.push(r);
  }
}
