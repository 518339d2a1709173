// Reads ahead of a consumer: the next video's frames are decoded while the model runs on the current one (the fused
// engine runs off the JavaScript thread, so decoding on the thread overlaps it). At most `max` items wait in memory.
/** Frames of a video read ahead of the model, at most (128 MiB: 223 frames of 224 x 224 x 3). */
export const PREFETCH_BYTES = 128 * 2 ** 20;

export interface Prefetched<T> extends AsyncIterable<T> {
  /** Stops reading ahead and closes the source (its ffmpeg ends). */
  close(): Promise<void>;
}

/** Starts pulling `source` now, keeping at most `max` items ahead of whoever iterates the result (once). */
export function prefetch<T>(source: AsyncIterable<T> | Iterable<T>, max: number): Prefetched<T> {
  const it = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as
    AsyncIterator<T> | Iterator<T>;
  const queue: T[] = [];
  let done = false;
  let failure: { error: unknown } | null = null;
  let closed = false;
  let wake: (() => void) | null = null; // the consumer waiting for an item
  let room: (() => void) | null = null; // the pump waiting for space
  const notify = () => {
    wake?.();
    wake = null;
  };
  const pump = (async () => {
    try {
      while (!closed) {
        if (queue.length >= max) {
          await new Promise<void>((r) => (room = r));
          continue;
        }
        const r = await it.next();
        if (r.done) break;
        queue.push(r.value);
        notify();
      }
    } catch (e) {
      failure = { error: e };
    } finally {
      done = true;
      notify();
    }
  })();
  const close = async () => {
    closed = true;
    room?.();
    await pump;
    queue.length = 0;
    await it.return?.();
  };
  return {
    close,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (queue.length > 0) {
            const v = queue.shift()!;
            room?.();
            room = null;
            yield v;
          } else if (failure) throw (failure as { error: unknown }).error;
          else if (done) return;
          else await new Promise<void>((r) => (wake = r));
        }
      } finally {
        await close();
      }
    },
  };
}
