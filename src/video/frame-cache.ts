// An in-memory cache of decoded videos (RGB frames at the sampling rate), least recently used first out, within
// a byte budget. Small datasets read many clips of the same videos: with the cache, each video is decoded once
// per process (or worker) and every later clip (with its own random crop, flip and jitter) comes from memory.
import { statSync } from 'node:fs';
import type { VideoInfo } from './probe.js';

export interface CachedVideo {
  /** RGB frames, each info.width x info.height (after rotation). */
  frames: Uint8Array[];
  info: VideoInfo;
  bytes: number;
}

const entries = new Map<string, CachedVideo>();
let used = 0;

/** The key of a video's decoded frames: path, size and modification time (a changed file misses), frame rate. */
export function frameCacheKey(file: string, fps: number): string {
  const s = statSync(file);
  return `${file}\u0000${s.size}\u0000${s.mtimeMs}\u0000${fps}`;
}

export function getCachedVideo(key: string): CachedVideo | undefined {
  const v = entries.get(key);
  if (v) {
    entries.delete(key);
    entries.set(key, v); // most recently used last
  }
  return v;
}

/** Stores a decoded video when it fits the budget, evicting the least recently used ones. */
export function putCachedVideo(key: string, v: CachedVideo, budget: number): boolean {
  if (v.bytes > budget) return false;
  const old = entries.get(key);
  if (old) {
    entries.delete(key);
    used -= old.bytes;
  }
  for (const [k, e] of entries) {
    if (used + v.bytes <= budget) break;
    entries.delete(k);
    used -= e.bytes;
  }
  entries.set(key, v);
  used += v.bytes;
  return true;
}

export function frameCacheStats(): { videos: number; bytes: number } {
  return { videos: entries.size, bytes: used };
}

export function clearFrameCache(): void {
  entries.clear();
  used = 0;
}
