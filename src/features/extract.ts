// The feature cache: a frozen I3D backbone's segment features ([views, S, F] per video: each segment's mean of
// Mixed_5c) computed once and kept on disk, so that training an I3D-LSTM head on a frozen backbone reads vectors
// instead of decoding videos and running the backbone every epoch; also `i3d extract` for users who only want
// I3D features.
//
// Layout: <out>/<key>/ where key = sha256 of {backbone: sha256 of the backbone's tensors (weights and batch-norm
// statistics, so 'random' + seed + width, a zoo name and a path are all covered), stream, width, segments,
// frames, size, resize, fps, views (and the augmentation seed and flip when views > 1)}. In it: manifest.json
// (the parameters, the classes of a dataset, and per video its path, label, content sha256, size, mtime and
// feature file) and features/<video sha256>.safetensors holding `features` [views, S, F] float32, each written
// atomically. Feature files are named by the video's content, so a re-run (or a resumed, interrupted one)
// computes only videos whose feature file is missing; the content hash is recomputed only when a file's size or
// mtime changed since the manifest recorded it.
import { loadBackbone } from '../weights/backbone.js';
import { I3DError } from '../core/errors.js';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { ClipPool } from '../data/clip-pool.js';
import { scanFolder, type Sample } from '../data/dataset.js';
import { chooseEngine, type FusedI3D } from '../inference/i3d-plan.js';
import { deriveSeed, mulberry32 } from '../core/rng.js';
import { writeNpy } from '../io/npy.js';
import { I3D, type Stream } from '../models/i3d.js';
import { manualSeed } from '../tensor/runtime.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import type { ClipOptions } from '../video/clip.js';
import { VideoError } from '../video/errors.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';
import type { FetchOptions } from '../weights/zoo.js';

export const FEATURE_CACHE_FORMAT = 'i3d-feature-cache';

/** Videos with labels, e.g. a split of a dataset (paths relative to `root` in the manifest). */
export interface FeatureDataset {
  root?: string;
  classes?: string[];
  samples: readonly Sample[];
}

/** Video files and/or dataset folders (root/<class>/<video>), or labelled samples. */
export type FeatureInput = string | readonly string[] | FeatureDataset;

export interface ExtractOptions {
  /** The cache root: features go to <out>/<key>/. */
  out: string;
  /** 'random', a zoo name, a path, or a loaded I3D without its top (e.g. a frozen I3D-LSTM's backbone). */
  backbone: string | I3D;
  /** How a loaded backbone is named in the manifest (e.g. the training parameters' `backbone`). */
  backboneName?: string;
  /** Stream of a backbone given by name (default 'rgb'). */
  stream?: Stream;
  /** Width of a 'random' backbone (default 1). */
  width?: number;
  /** Seed of a 'random' backbone's initialisation and of the augmented views (default 42). */
  seed?: number;
  segments: number;
  frames: number;
  size?: number;
  resize?: number;
  fps?: number;
  /** Views per video (default 1): view 0 is the centre crop; views 1.. are random crops, jitter and flips. */
  views?: number;
  /** Horizontal flips in the augmented views (default true). */
  flip?: boolean;
  /** Videos per backbone batch (default 4). */
  batch?: number;
  /** Decoding worker threads (default 2; 0: in this thread). */
  workers?: number;
  /** Also write <key>/npy/<video>.npy [S, F] (view 0) per video. */
  npy?: boolean;
  /** Zoo downloads. */
  fetch?: FetchOptions;
  /** After each video (computed or found in the cache). */
  onProgress?: (p: { done: number; total: number; computed: number; path: string }) => void;
  /** Once per unreadable video (default: a warning on stderr). */
  onSkip?: (path: string, error: Error) => void;
}

export interface FeatureEntry {
  /** Relative to the dataset root, or the path as given for loose files. */
  path: string;
  /** Absolute path of the video (the key of the size/mtime memo). */
  source: string;
  label?: number;
  className?: string;
  /** sha256 of the video file's bytes. */
  sha256: string;
  size: number;
  mtimeMs: number;
  /** Feature file, relative to the cache folder. */
  file: string;
  /** The --npy file, relative to the cache folder. */
  npy?: string;
}

export interface FeatureManifest {
  format: typeof FEATURE_CACHE_FORMAT;
  version: 1;
  key: string;
  /** What the key hashes, plus the backbone as it was named. */
  parameters: CacheKeyInfo & { backboneSpec: string; featureShape: [number, number, number] };
  classes?: string[];
  root?: string;
  videos: FeatureEntry[];
}

export interface CacheKeyInfo {
  format: 1;
  backbone: string;
  stream: Stream;
  width: number;
  segments: number;
  frames: number;
  size: number;
  resize: number;
  fps: number;
  views: number;
  augment?: { seed: number; flip: boolean };
}

export interface ExtractResult {
  /** The cache folder <out>/<key>. */
  dir: string;
  key: string;
  manifest: string;
  /** This run's videos (in input order; unreadable ones left out). */
  entries: FeatureEntry[];
  /** Videos whose features were computed by this run (the rest came from the cache). */
  computed: number;
  reused: number;
  /** Unreadable videos (paths as given) and why. */
  skipped: Map<string, Error>;
  /** [views, segments, features]. */
  featureShape: [number, number, number];
}

/** sha256 (hex) of a backbone's tensors: names, shapes and float32 bytes, sorted by name. */
export function backboneDigest(model: I3D): string {
  const h = createHash('sha256');
  noGrad(() =>
    scope(() => {
      for (const [name, t] of [...model.stateTensors()].sort(([a], [b]) => a.localeCompare(b))) {
        const d = (t.dtype === 'float32' ? t.data() : t.to('float32').data()) as Float32Array;
        h.update(`${name}:${t.shape.join('x')};`);
        h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      }
    }),
  );
  return h.digest('hex');
}

/** The cache key of the parameters (first 16 hex digits of their sha256). */
export function cacheKey(info: CacheKeyInfo): string {
  return createHash('sha256').update(JSON.stringify(info)).digest('hex').slice(0, 16);
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Reads a cache folder's manifest (null when there is none). */
export function readFeatureManifest(dir: string): FeatureManifest | null {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return null;
  let m: FeatureManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as FeatureManifest;
  } catch (e) {
    throw new Error(`${path}: not a readable feature cache manifest (${(e as Error).message})`);
  }
  if (m.format !== FEATURE_CACHE_FORMAT || m.version !== 1) throw new Error(`${path}: not an i3d feature cache manifest`);
  return m;
}

/** A video's features [views, S, F] from the cache folder. */
export function readFeatures(dir: string, entry: Pick<FeatureEntry, 'file'>): { data: Float32Array; shape: number[] } {
  const t = readSafetensors(join(dir, entry.file)).tensors.get('features');
  if (!t) throw new I3DError('I3D_CACHE_CORRUPT', `${join(dir, entry.file)}: no 'features' tensor`);
  return t;
}

interface Video {
  /** The path as given (in messages). */
  given: string;
  source: string;
  path: string;
  label?: number;
  className?: string;
}

/** The inputs as videos; a missing file or folder is an error naming it. */
function resolveInputs(input: FeatureInput): { videos: Video[]; classes?: string[]; root?: string } {
  if (typeof input === 'object' && !Array.isArray(input) && 'samples' in input) {
    const root = input.root ? resolve(input.root) : undefined;
    const videos = input.samples.map((s) => {
      const source = resolve(s.path);
      const path = root && !relative(root, source).startsWith('..') ? relative(root, source) : s.path;
      return { given: s.path, source, path, label: s.label, className: s.className };
    });
    return { videos, ...(input.classes && { classes: input.classes }), ...(root && { root }) };
  }
  const list = typeof input === 'string' ? [input] : (input as readonly string[]);
  if (!list.length) throw new Error('no videos given');
  const videos: Video[] = [];
  const folders: { root: string; classes: string[] }[] = [];
  for (const p of list) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) throw new Error(`${p}: no such video file or dataset folder`);
    if (st.isDirectory()) {
      const ds = scanFolder(p);
      const root = resolve(p);
      folders.push({ root, classes: ds.classes });
      for (const s of ds.samples) {
        const source = resolve(s.path);
        videos.push({ given: s.path, source, path: relative(root, source), label: s.label, className: s.className });
      }
    } else if (st.isFile()) videos.push({ given: p, source: resolve(p), path: p });
    else throw new Error(`${p}: not a video file or a folder`);
  }
  const one = folders.length === 1 && videos.every((v) => v.label !== undefined) ? folders[0] : undefined;
  return { videos, ...(one && { classes: one.classes, root: one.root }) };
}

type Loaded = { ok: true; data: Float32Array; shape: number[] } | { ok: false; error: Error };

/** Loads the backbone for a spec (seeded for 'random'); the caller disposes it. */
async function backboneFor(spec: string, stream: Stream, width: number, seed: number, fetch: FetchOptions): Promise<I3D> {
  // Imported here: run.ts imports this module.
  manualSeed(seed);
  return loadBackbone(spec, stream, width, fetch);
}

/**
 * Computes (or finds in the cache) every video's segment features with a frozen backbone (eval mode, no
 * gradients, batched). Unreadable videos are reported once and left out; a missing input is an error.
 */
export async function extractFeatures(input: FeatureInput, o: ExtractOptions): Promise<ExtractResult> {
  const views = o.views ?? 1;
  const batch = o.batch ?? 4;
  const workers = o.workers ?? 2;
  const seed = o.seed ?? 42;
  const flip = o.flip ?? true;
  const size = o.size ?? 224;
  const resize = o.resize ?? 256;
  const fps = o.fps ?? 25;
  for (const [name, v] of Object.entries({ views, batch, segments: o.segments, frames: o.frames }))
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`extractFeatures: '${name}' must be a positive integer, got ${v}`);
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`extractFeatures: 'workers' must be an integer >= 0, got ${workers}`);
  const { videos, classes, root } = resolveInputs(input);

  const owned = typeof o.backbone === 'string';
  const backbone =
    typeof o.backbone === 'string' ? await backboneFor(o.backbone, o.stream ?? 'rgb', o.width ?? 1, seed, o.fetch ?? {}) : o.backbone;
  const wasTraining = backbone.training;
  let fused: FusedI3D | null = null;
  try {
    if (backbone.includeTop) throw new Error('extractFeatures: the backbone must be an I3D without its top');
    backbone.eval();
    // The fused inference path where the CPU and the backbone allow it (full width, on the CPU), else the eager ops.
    fused = chooseEngine(backbone).fused;
    const info: CacheKeyInfo = {
      format: 1,
      backbone: backboneDigest(backbone),
      stream: backbone.stream,
      width: backbone.width,
      segments: o.segments,
      frames: o.frames,
      size,
      resize,
      fps,
      views,
      ...(views > 1 && { augment: { seed, flip } }),
    };
    const key = cacheKey(info);
    const dir = join(o.out, key);
    mkdirSync(join(dir, 'features'), { recursive: true });
    const featureShape: [number, number, number] = [views, o.segments, backbone.featureChannels];
    const previous = readFeatureManifest(dir);
    const memo = new Map((previous?.videos ?? []).map((e) => [e.source, e]));
    const entries = new Map<string, FeatureEntry>();
    const manifestPath = join(dir, 'manifest.json');
    const saveManifest = () => {
      const videosOut = new Map(memo);
      for (const [s, e] of entries) videosOut.set(s, e);
      const m: FeatureManifest = {
        format: FEATURE_CACHE_FORMAT,
        version: 1,
        key,
        parameters: {
          ...info,
          backboneSpec: typeof o.backbone === 'string' ? o.backbone : (o.backboneName ?? 'an I3D given by the caller'),
          featureShape,
        },
        ...((classes ?? previous?.classes) && { classes: classes ?? previous!.classes! }),
        ...((root ?? previous?.root) && { root: root ?? previous!.root! }),
        videos: [...videosOut.values()],
      };
      writeJsonAtomic(manifestPath, m);
    };

    const skipped = new Map<string, Error>();
    const skip = (v: Video, e: Error) => {
      if (skipped.has(v.given)) return;
      skipped.set(v.given, e);
      if (o.onSkip) o.onSkip(v.given, e);
      else console.warn(`i3d: skipping ${e.message}`);
    };
    // Identify every video (content hash, memoised by size and mtime) and find what the cache lacks.
    let done = 0;
    let computed = 0;
    const progress = (v: Video) => o.onProgress?.({ done: ++done, total: videos.length, computed, path: v.path });
    const npyNames = new Set<string>();
    const npyName = (v: Video, sha: string) => {
      const stem = join('npy', v.path.startsWith('..') || isAbsolute(v.path) ? basename(v.path) : v.path);
      let name = `${stem.slice(0, stem.length - extname(stem).length)}.npy`;
      if (npyNames.has(name)) name = `${name.slice(0, -4)}-${sha.slice(0, 8)}.npy`;
      npyNames.add(name);
      return name;
    };
    const writeNpyOf = (entry: FeatureEntry, data: Float32Array) => {
      if (!entry.npy) return;
      const path = join(dir, entry.npy);
      mkdirSync(dirname(path), { recursive: true });
      writeNpy(path, data.subarray(0, o.segments * featureShape[2]), [o.segments, featureShape[2]]);
    };
    /** Videos to compute, by content: identical files are computed once. */
    const todo = new Map<string, { v: Video; entry: FeatureEntry }[]>();
    for (const v of videos) {
      let st;
      try {
        st = statSync(v.source);
      } catch (e) {
        skip(v, new VideoError('NOT_FOUND', v.given, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`));
        continue;
      }
      const known = memo.get(v.source);
      const sha = known && known.size === st.size && known.mtimeMs === st.mtimeMs ? known.sha256 : await fileSha256(v.source);
      const entry: FeatureEntry = {
        path: v.path,
        source: v.source,
        ...(v.label !== undefined && { label: v.label }),
        ...(v.className !== undefined && { className: v.className }),
        sha256: sha,
        size: st.size,
        mtimeMs: st.mtimeMs,
        file: join('features', `${sha}.safetensors`),
      };
      if (o.npy) entry.npy = npyName(v, sha);
      entries.set(v.source, entry);
      if (!todo.has(sha) && existsSync(join(dir, entry.file))) {
        if (o.npy) writeNpyOf(entry, readFeatures(dir, entry).data);
        progress(v);
      } else todo.set(sha, [...(todo.get(sha) ?? []), { v, entry }]);
    }

    // Compute the missing ones, `batch` videos at a time, loading the next batch while the backbone runs.
    const unique = [...todo.values()];
    const clipOptions = (sha: string, view: number): { options: ClipOptions; flip: boolean } => {
      const base = { frames: o.frames, segments: o.segments, size, resize, fps, frameCache: views > 1 ? 256 * 2 ** 20 : 0 };
      if (view === 0) return { options: { ...base, crop: 'center', jitter: false }, flip: false };
      const s = deriveSeed(seed, parseInt(sha.slice(0, 8), 16), parseInt(sha.slice(8, 16), 16), view);
      return { options: { ...base, crop: 'random', jitter: true, seed: s }, flip: flip && mulberry32(deriveSeed(s, 3))() < 0.5 };
    };
    // Decoding in worker threads (each video's views in one worker, for its frame cache), or here with 0 workers.
    const loader = new ClipPool({ stream: backbone.stream, workers: unique.length ? Math.min(workers, unique.length) : 0 });
    const load = (path: string, options: ClipOptions, flipped: boolean): Promise<Loaded> =>
      loader.load(path, options, flipped).then(
        (c): Loaded => ({ ok: true, data: c.data, shape: c.shape }),
        (e: unknown): Loaded => ({ ok: false, error: e as Error }),
      );
    try {
      const loadChunk = (k: number) =>
        unique.slice(k * batch, (k + 1) * batch).map((same) => {
          const { v, entry } = same[0]!;
          return {
            same,
            clips: Promise.all(
              Array.from({ length: views }, (_, view) => {
                const c = clipOptions(entry.sha256, view);
                return load(v.source, c.options, c.flip);
              }),
            ),
          };
        });
      const chunks = Math.ceil(unique.length / batch);
      let next = chunks ? loadChunk(0) : [];
      let lastSave = performance.now();
      for (let k = 0; k < chunks; k++) {
        const loaded = await Promise.all(next.map(async (c) => ({ same: c.same, clips: await c.clips })));
        next = k + 1 < chunks ? loadChunk(k + 1) : [];
        const ok: { same: (typeof unique)[number]; clips: { data: Float32Array; shape: number[] }[] }[] = [];
        for (const { same, clips } of loaded) {
          const bad = clips.find((c) => !c.ok);
          if (!bad) {
            ok.push({ same, clips: clips as { data: Float32Array; shape: number[] }[] });
            continue;
          }
          const e = (bad as { error: Error }).error;
          if (e.name !== 'VideoError') throw e;
          for (const { v } of same) skip(v, e);
        }
        if (!ok.length) continue;
        const one = ok[0]!.clips[0]!.shape.slice(2); // [T, H, W, C]
        const clipLen = one.reduce((a, b) => a * b, 1) * o.segments;
        const x = new Float32Array(ok.length * views * clipLen);
        ok.forEach(({ clips }, i) => clips.forEach((c, view) => x.set(c.data, (i * views + view) * clipLen)));
        const shape = [ok.length * views * o.segments, ...one];
        const feats = await scope(async () =>
          noGrad(async () => {
            const clips = tensor(x, shape);
            // The fused path runs off the JavaScript thread, so the next chunk decodes meanwhile.
            const features = fused ? (await fused.featureMapAsync(clips)).mean([2, 3, 4]) : backbone.forward(clips).features;
            return features.data() as Float32Array;
          }),
        );
        const per = views * o.segments * featureShape[2];
        for (const [i, { same }] of ok.entries()) {
          const data = feats.slice(i * per, (i + 1) * per);
          const { entry } = same[0]!;
          scope(() =>
            writeSafetensors(join(dir, entry.file), new Map([['features', tensor(data, featureShape)]]), {
              sha256: entry.sha256,
              video: entry.path,
            }),
          );
          computed++;
          for (const s of same) {
            writeNpyOf(s.entry, data);
            progress(s.v);
          }
        }
        if (performance.now() - lastSave > 2000) {
          saveManifest();
          lastSave = performance.now();
        }
      }
    } finally {
      await loader.close();
    }
    for (const v of videos) if (skipped.has(v.given)) entries.delete(v.source);
    saveManifest();
    const out = videos.map((v) => entries.get(v.source)).filter((e): e is FeatureEntry => e !== undefined);
    return { dir, key, manifest: manifestPath, entries: out, computed, reused: out.length - computed, skipped, featureShape };
  } finally {
    fused?.dispose();
    if (owned) backbone.dispose();
    else backbone.train(wasTraining);
  }
}
