// One entry of a content-addressed cache (its file name is the key, a hash of everything the content depends on),
// filled once even when several processes ask for it at the same time:
//   read -> hit: done. Miss: take the entry's lock (`<file>.lock`), read again (another process may have filled it
//   while we waited), else compute, write atomically, release.
// Readers never see a torn file (writes are write-then-rename); the lock only saves duplicate work. When the lock is
// not free within `waitMs` (a holder that hangs), the entry is computed and written anyway: two atomic writes of
// the same content cannot corrupt it.
import { I3DError } from './errors.js';
import { lock, type Lock } from './lock.js';

export interface CacheEntryFill<T> {
  /** The cached value, or null when missing or unreadable (a damaged entry counts as missing and is rewritten). */
  read: () => Promise<T | null> | T | null;
  compute: () => Promise<T>;
  /** Stores the value atomically (storage.ts). */
  write: (value: T) => Promise<void> | void;
  /** Longest wait for another process filling the same entry (default 10 minutes). */
  waitMs?: number;
  /** The holder's purpose recorded in the lock file. */
  purpose?: string;
}

export async function fillCacheEntry<T>(file: string, f: CacheEntryFill<T>): Promise<{ value: T; cached: boolean }> {
  const hit = await f.read();
  if (hit !== null) return { value: hit, cached: true };
  let held: Lock | null = null;
  try {
    held = await lock(`${file}.lock`, { waitMs: f.waitMs ?? 600_000, what: file, ...(f.purpose && { purpose: f.purpose }) });
  } catch (e) {
    if (!(e instanceof I3DError && e.code === 'I3D_LOCKED')) throw e;
  }
  try {
    if (held) {
      const filled = await f.read();
      if (filled !== null) return { value: filled, cached: true };
    }
    const value = await f.compute();
    await f.write(value);
    return { value, cached: false };
  } finally {
    held?.release();
  }
}
