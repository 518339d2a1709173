// A disk cache for optical flow, which is expensive: a re-run on the same video with the same parameters reads the flow
// back instead of recomputing it. Key: sha256 of the video file's bytes + the flow implementation and parameters + the
// frame sampling parameters. Location: $I3D_CACHE_DIR/flow, else $XDG_CACHE_HOME/i3d/flow, else ~/.cache/i3d/flow.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../system/cache-dir.js';
import { I3DError } from '../core/errors.js';
import { fail } from '../tensor/validate.js';

/** The folder flow is cached in (not created here). */
export function flowCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return cacheDir('flow', env);
}

/** sha256 (hex) of a file's bytes, streamed. The error names the file. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new I3DError('I3D_VIDEO_NOT_FOUND', `Cannot read video ${path} to hash it for the flow cache: ${(e as Error).message}`);
  }
  return h.digest('hex');
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** JSON with object keys sorted at every level, so that equal settings give equal keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`flow cache key: ${v} is not a finite number`);
  return JSON.stringify(v);
}

/** What the cached flow depends on besides the video's bytes. */
export interface FlowCacheSettings {
  /** The flow method and its version, e.g. 'opencv-dualtvl1 4.6.0'. */
  implementation: string;
  /** Flow parameters (TV-L1's, the crop, ...). */
  params: Record<string, Json>;
  /** Frame sampling (fps, resize, frame range, ...). */
  sampling: Record<string, Json>;
}

const FORMAT = 1;

/** The cache key: sha256 over the video's hash and the settings, as hex. */
export function flowCacheKey(videoSha256: string, settings: FlowCacheSettings): string {
  return createHash('sha256')
    .update(canonical({ format: FORMAT, video: videoSha256, ...settings }))
    .digest('hex');
}

/** A flow array: float32 values in row-major order with their shape, e.g. [N, H, W, 2]. */
export interface FlowArray {
  data: Float32Array;
  shape: number[];
}

// File layout: MAGIC, uint32 LE header length, JSON header (space-padded so the data starts on a multiple of 4),
// float32 little-endian data.
const MAGIC = Buffer.from('I3DFLOW\n', 'latin1');

function encode(flow: FlowArray, header: Record<string, unknown>): Buffer {
  let json = JSON.stringify({ ...header, shape: flow.shape });
  const pad = (4 - ((MAGIC.length + 4 + Buffer.byteLength(json)) % 4)) % 4;
  json += ' '.repeat(pad);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(Buffer.byteLength(json));
  const data = Buffer.from(flow.data.buffer, flow.data.byteOffset, flow.data.byteLength);
  return Buffer.concat([MAGIC, len, Buffer.from(json), data]);
}

/** The cached flow in `file` if it is complete and was made for `key`, else null. */
export async function readFlowFile(file: string, key: string): Promise<FlowArray | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  try {
    if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const hlen = buf.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4 + hlen;
    const header = JSON.parse(buf.subarray(MAGIC.length + 4, start).toString('utf8')) as { key?: string; shape?: number[] };
    const shape = header.shape;
    if (header.key !== key || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return null;
    const n = shape.reduce((a, b) => a * b, 1);
    if (buf.length - start !== n * 4) return null;
    return { data: new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length)), shape };
  } catch {
    return null;
  }
}

/** Writes the flow atomically: to a temporary file in the same folder, then renamed over `file`. */
export async function writeFlowFile(file: string, key: string, flow: FlowArray, info: Record<string, unknown> = {}): Promise<void> {
  const n = flow.shape.reduce((a, b) => a * b, 1);
  if (!(flow.data instanceof Float32Array) || flow.data.length !== n)
    fail('writeFlowFile', 'flow', `a Float32Array of ${n} values (shape [${flow.shape.join(', ')}])`, flow.data);
  const dir = join(file, '..');
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, encode(flow, { ...info, key }));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`Cannot write the flow cache file ${file}: ${(e as Error).message}`);
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
}

/**
 * The flow of `video` for these settings: from the cache when there, else `compute()`d and stored. A damaged or
 * foreign cache file counts as a miss and is replaced.
 */
export async function cachedFlow(video: string, opts: CachedFlowOptions, compute: () => Promise<FlowArray>): Promise<CachedFlowResult> {
  const { dir = flowCacheDir(), ...settings } = opts;
  const sha = await hashFile(video);
  const key = flowCacheKey(sha, settings);
  const file = join(dir, `${key}.flow`);
  const hit = await readFlowFile(file, key);
  if (hit) return { ...hit, cached: true, file };
  const flow = await compute();
  await writeFlowFile(file, key, flow, { video: { path: video, sha256: sha }, ...settings, created: new Date().toISOString() });
  return { ...flow, cached: false, file };
}
