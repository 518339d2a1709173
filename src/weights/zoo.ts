// The model zoo: the official I3D weights (the Keras port of DeepMind's checkpoints, release v0.2 of
// dlpbc/keras-kinetics-i3d) and the Kinetics-400 label map, by name. First use downloads into the cache
// (resuming an interrupted download); later uses read the cached file.
//
// Checksums: the label map's SHA-256 is pinned (it is the official file). The weight files' publisher gives no
// checksums, so their SHA-256 is recorded at first download (`<file>.sha256`), only when that download is verified
// whole (the server's stated size arrived in full), and every later use verifies the cached file against it; a file
// that changed on disk is reported, never loaded silently. Several processes fetching the same file at once: one
// downloads (a lock per file), the others wait and then read the cache.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillCacheEntry } from '../core/cache-entry.js';
import { sha256File } from '../core/hash.js';
import { writeFileAtomic } from '../core/storage.js';
import { download, DownloadError, type DownloadProgress } from '../net/download.js';
import { cacheDir } from '../system/cache-dir.js';
import type { Stream } from '../core/stream.js';
import { KINETICS_400_LABELS, MODEL_CARDS } from './cards.js';
import { WeightsError } from './errors.js';

/** The weights spec for a freshly initialised model (no file). */
export const RANDOM_WEIGHTS = 'random';

export { KINETICS_400_LABELS };

export interface ZooEntry {
  name: string;
  stream: Stream;
  pretraining: 'imagenet_and_kinetics' | 'kinetics_only';
  includeTop: boolean;
  url: string;
  fileName: string;
  /** Pinned SHA-256, when the publisher's file is known; otherwise recorded at first download. */
  sha256?: string;
}

/** Every zoo name (`rgb_imagenet_and_kinetics`, ..., each also with `_no_top`): the weights of each model card. */
export const ZOO: ReadonlyMap<string, ZooEntry> = new Map(
  [...MODEL_CARDS.values()].map((c) => [
    c.name,
    {
      name: c.name,
      stream: c.stream,
      pretraining: c.pretraining,
      includeTop: c.includeTop,
      url: c.weights.url,
      fileName: c.weights.fileName,
      ...(c.weights.sha256 ? { sha256: c.weights.sha256 } : {}),
    },
  ]),
);

export function isZooName(spec: string): boolean {
  return ZOO.has(spec);
}

export interface FetchOptions {
  /** Called as bytes arrive (for a progress bar). */
  onProgress?: (name: string, p: DownloadProgress) => void;
  /** Never touch the network: use the cache or fail. Default: $I3D_OFFLINE=1. */
  offline?: boolean;
}

/** The URL to fetch `fileName` from: the official one, or `$I3D_ZOO_MIRROR/<fileName>` when a mirror is set. */
function sourceUrl(official: string, fileName: string): string {
  const mirror = process.env.I3D_ZOO_MIRROR;
  return mirror ? `${mirror.replace(/\/+$/, '')}/${fileName}` : official;
}

/** A zoo file in the cache, downloading it first when missing; verified against its checksum either way. */
async function fetchCached(
  what: { name: string; url: string; fileName: string; sha256?: string },
  o: FetchOptions,
  alternative: string,
): Promise<string> {
  const dir = cacheDir('zoo');
  const file = join(dir, what.fileName);
  const sidecar = `${file}.sha256`;
  /** The cached file, verified against its pinned or recorded checksum; null when there is none. */
  const cached = async (): Promise<string | null> => {
    if (!existsSync(file)) return null;
    const expected = what.sha256 ?? (existsSync(sidecar) ? readFileSync(sidecar, 'utf8').trim() : undefined);
    if (!expected) return file; // placed there by hand, or a download whose size the server did not state
    const actual = await sha256File(file, `to verify the cached ${what.name}`);
    if (actual !== expected)
      throw new WeightsError(
        `${file}: SHA-256 ${actual} differs from ${expected} (${what.sha256 ? 'the published checksum' : 'recorded at download'}); ` +
          `the cached ${what.name} is corrupt or was replaced: delete it to download it again`,
      );
    return file;
  };
  const url = sourceUrl(what.url, what.fileName);
  const offline = o.offline ?? process.env.I3D_OFFLINE === '1';
  const help =
    `Expected file: ${what.fileName} (from ${url}). Download it on a machine that is online and copy it to ${file}, ` +
    `or ${alternative}.`;
  const fetchIt = async (): Promise<string> => {
    if (offline) throw new WeightsError(`${what.name} is not in the cache and downloads are off (offline). ${help}`);
    try {
      const r = await download(url, file, {
        ...(what.sha256 ? { sha256: what.sha256 } : {}),
        ...(o.onProgress ? { onProgress: (p: DownloadProgress) => o.onProgress?.(what.name, p) } : {}),
      });
      // The reference checksum comes only from a download known to be whole.
      if (!what.sha256 && r.verified) writeFileAtomic(sidecar, `${r.sha256}\n`);
      return file;
    } catch (e) {
      if (e instanceof DownloadError) throw new WeightsError(`${what.name}: ${e.message}. ${help}`, { cause: e });
      throw e;
    }
  };
  const r = await fillCacheEntry(file, { read: cached, compute: fetchIt, write: () => {}, purpose: `download of ${what.name}` });
  return r.value;
}

/**
 * A weights argument as a path: a zoo name is fetched into the cache, anything else must be an existing path
 * (a Keras .h5 file, a TensorFlow checkpoint, or a model folder) and is returned as is.
 */
export async function resolveWeights(spec: string, o: FetchOptions = {}): Promise<string> {
  const entry = ZOO.get(spec);
  if (entry) return fetchCached(entry, o, 'pass --weights <path> to a Keras .h5 file, a TensorFlow checkpoint or a model folder');
  if (existsSync(spec) || existsSync(`${spec}.index`)) return spec;
  throw new WeightsError(`${spec}: neither a file, a checkpoint nor a model-zoo name (zoo: ${[...ZOO.keys()].join(', ')})`);
}

/** The Kinetics-400 class names (400 lines), fetched and cached like the weights. */
export async function kinetics400LabelsFile(o: FetchOptions = {}): Promise<string> {
  return fetchCached(KINETICS_400_LABELS, o, 'pass --labels <file> (one class name per line)');
}
