// A disk cache for optical flow, which is expensive: a re-run on the same video with the same parameters reads the flow
// back instead of recomputing it. Key: sha256 of the video file's bytes + the flow implementation and parameters + the
// frame sampling parameters (canonical JSON, so key order does not matter). Location: $I3D_CACHE_DIR/flow, else
// $XDG_CACHE_HOME/i3d/flow, else ~/.cache/i3d/flow.
//
// An entry is `<key>.safetensors`: one float32 tensor `flow` [N, H, W, 2] and metadata (format, key, implementation,
// params, sampling, the video's path and sha256, when it was made). Written atomically and filled once when several
// processes want the same entry at the same time (core/cache-entry.ts). Entries of the earlier container format
// (`<key>.flow`, magic `I3DFLOW`) are read, converted to safetensors and removed; a damaged entry is recomputed.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fillCacheEntry } from '../core/cache-entry.js';
import { sha256File, stableKey } from '../core/hash.js';
import { cacheDir } from '../system/cache-dir.js';
import { fail } from '../tensor/validate.js';
import { readSafetensors, writeSafetensorsData } from '../weights/safetensors.js';

/** The folder flow is cached in (not created here). */
export function flowCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return cacheDir('flow', env);
}

/** sha256 (hex) of a file's bytes, streamed. The error (I3D_FILE_UNREADABLE) names the file. */
export async function hashFile(path: string): Promise<string> {
  return sha256File(path, 'to hash it for the flow cache');
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** What the cached flow depends on besides the video's bytes. */
export interface FlowCacheSettings {
  /** The flow method and its version, e.g. 'opencv-dualtvl1 4.6.0'. */
  implementation: string;
  /** Flow parameters (TV-L1's, the crop, ...). */
  params: Record<string, Json>;
  /** Frame sampling (fps, resize, frame range, ...). */
  sampling: Record<string, Json>;
}

/** Part of the key: what the flow is, not how it is stored (unchanged by the move to safetensors). */
const FORMAT = 1;
const CONTAINER = 'i3d-flow-cache';

/** The cache key: sha256 over the video's hash and the settings, as hex. */
export function flowCacheKey(videoSha256: string, settings: FlowCacheSettings): string {
  return stableKey({ format: FORMAT, video: videoSha256, ...settings });
}

/** A flow array: float32 values in row-major order with their shape, e.g. [N, H, W, 2]. */
export interface FlowArray {
  data: Float32Array;
  shape: number[];
}

/** The cached flow in `file` (safetensors) if it is complete and was made for `key`, else null. */
export async function readFlowFile(file: string, key: string): Promise<FlowArray | null> {
  if (!existsSync(file)) return null;
  try {
    const { tensors, metadata } = readSafetensors(file);
    const flow = tensors.get('flow');
    if (metadata.format !== CONTAINER || metadata.key !== key || !flow) return null;
    return flow;
  } catch {
    return null; // damaged: a miss, recomputed and replaced
  }
}

/** Writes the flow atomically as safetensors, with `key` and `info` (values as JSON unless strings) as metadata. */
export async function writeFlowFile(file: string, key: string, flow: FlowArray, info: Record<string, unknown> = {}): Promise<void> {
  const n = flow.shape.reduce((a, b) => a * b, 1);
  if (!(flow.data instanceof Float32Array) || flow.data.length !== n)
    fail('writeFlowFile', 'flow', `a Float32Array of ${n} values (shape [${flow.shape.join(', ')}])`, flow.data);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(info)) if (v !== undefined) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  writeSafetensorsData(file, new Map([['flow', flow]]), { ...metadata, format: CONTAINER, key });
}

// The earlier container, read for old caches: MAGIC, uint32 LE header length, JSON header {key, shape, ...}, float32 data.
const LEGACY_MAGIC = Buffer.from('I3DFLOW\n', 'latin1');

/** The flow of an `I3DFLOW` file made for `key`, or null. */
function readLegacyFlowFile(file: string, key: string): FlowArray | null {
  try {
    const buf = readFileSync(file);
    if (buf.length < LEGACY_MAGIC.length + 4 || !buf.subarray(0, LEGACY_MAGIC.length).equals(LEGACY_MAGIC)) return null;
    const start = LEGACY_MAGIC.length + 4 + buf.readUInt32LE(LEGACY_MAGIC.length);
    const header = JSON.parse(buf.subarray(LEGACY_MAGIC.length + 4, start).toString('utf8')) as { key?: string; shape?: number[] };
    const shape = header.shape;
    if (header.key !== key || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return null;
    if (buf.length - start !== shape.reduce((a, b) => a * b, 1) * 4) return null;
    return { data: new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length)), shape };
  } catch {
    return null;
  }
}

export interface CachedFlowResult extends FlowArray {
  /** True when read from the cache, false when computed (and then stored). */
  cached: boolean;
  /** The cache file. */
  file: string;
}

export interface CachedFlowOptions extends FlowCacheSettings {
  /** The cache folder; default flowCacheDir(). */
  dir?: string;
  /** Longest wait for another process computing the same entry before computing it here too (default 10 min). */
  lockWaitMs?: number;
}

/**
 * The flow of `video` for these settings: from the cache when there, else `compute()`d and stored. A damaged or
 * foreign cache file counts as a miss and is replaced. Several processes asking for the same entry at once: one
 * computes, the others wait for it and read it.
 */
export async function cachedFlow(video: string, opts: CachedFlowOptions, compute: () => Promise<FlowArray>): Promise<CachedFlowResult> {
  const { dir = flowCacheDir(), lockWaitMs, ...settings } = opts;
  const sha = await hashFile(video);
  const key = flowCacheKey(sha, settings);
  const file = join(dir, `${key}.safetensors`);
  const legacy = join(dir, `${key}.flow`);
  const info = () => ({ video: { path: video, sha256: sha }, ...settings, created: new Date().toISOString() });
  const read = async (): Promise<FlowArray | null> => {
    const hit = await readFlowFile(file, key);
    if (hit || !existsSync(legacy)) return hit;
    const old = readLegacyFlowFile(legacy, key);
    if (old) await writeFlowFile(file, key, old, { ...info(), convertedFrom: 'I3DFLOW' });
    rmSync(legacy, { force: true });
    return old;
  };
  const r = await fillCacheEntry(file, {
    read,
    compute,
    write: (flow) => writeFlowFile(file, key, flow, info()),
    purpose: `flow of ${video}`,
    ...(lockWaitMs === undefined ? {} : { waitMs: lockWaitMs }),
  });
  return { ...r.value, cached: r.cached, file };
}
