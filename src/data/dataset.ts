// Video datasets: the seed's folder layout (root/<class>/<video>) or explicit split lists (UCF101's
// trainlist/testlist with classInd.txt), a stratified seeded train/validation split, the class index, and an
// inspection that decodes every video and reports the unreadable ones with their reason.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative } from 'node:path';
import { countFrames } from '../video/decode.js';
import { VideoError } from '../video/errors.js';
import { probeVideo, type Limits } from '../video/probe.js';
import { deriveSeed, mulberry32, shuffle } from '../core/rng.js';
import { errorClass } from '../core/errors.js';

/** A dataset folder, split or class index that is missing or malformed (I3D_BAD_DATASET). */
export class DatasetError extends errorClass('DatasetError', 'I3D_BAD_DATASET') {}

/** File extensions taken as videos when scanning folders (case-insensitive). */
export const VIDEO_EXTENSIONS = [
  '.avi',
  '.mp4',
  '.mkv',
  '.webm',
  '.mov',
  '.m4v',
  '.mpg',
  '.mpeg',
  '.gif',
  '.flv',
  '.wmv',
  '.ogv',
  '.3gp',
  '.ts',
];

export interface Sample {
  /** Path of the video. */
  path: string;
  /** Index of its class in `classes`. */
  label: number;
  className: string;
}

export interface Dataset {
  root: string;
  /** Class names; a sample's label is its index here (the class index saved with a model). */
  classes: string[];
  samples: Sample[];
}

/** Whether a file name has a video extension (and is not hidden). */
export function isVideo(name: string): boolean {
  return !name.startsWith('.') && VIDEO_EXTENSIONS.includes(extname(name).toLowerCase());
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    throw new DatasetError(`${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * The seed's layout: every sub-folder of `root` is a class (sorted by name, so labels are stable), every video
 * file in it (by extension, hidden files skipped; sub-folders searched too) a sample.
 */
export function scanFolder(root: string): Dataset {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DatasetError(`${root}: no such dataset folder`);
  const classes = listDir(root).filter((n) => !n.startsWith('.') && statSync(join(root, n)).isDirectory());
  if (!classes.length) throw new DatasetError(`${root}: no class folders (expected ${root}/<class>/<video>)`);
  const samples: Sample[] = [];
  const walk = (dir: string, label: number, className: string) => {
    for (const n of listDir(dir)) {
      const p = join(dir, n);
      if (n.startsWith('.')) continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p, label, className);
      else if (isVideo(n)) samples.push({ path: p, label, className });
    }
  };
  classes.forEach((c, i) => walk(join(root, c), i, c));
  if (!samples.length) throw new DatasetError(`${root}: no video files in the class folders (extensions: ${VIDEO_EXTENSIONS.join(' ')})`);
  return { root, classes, samples };
}

function lines(file: string): { text: string; line: number }[] {
  let s: string;
  try {
    s = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return s
    .split(/\r?\n/)
    .map((text, i) => ({ text: text.trim(), line: i + 1 }))
    .filter((l) => l.text && !l.text.startsWith('#'));
}

/** UCF101's classInd.txt: lines "1 ApplyEyeMakeup" (1-based). Returns the names in index order. */
export function readClassInd(file: string): string[] {
  const out: string[] = [];
  for (const { text, line } of lines(file)) {
    const m = /^(\d+)\s+(\S.*)$/.exec(text);
    if (!m) throw new DatasetError(`${file}:${line}: expected "<index> <class>", got "${text}"`);
    const i = Number(m[1]) - 1;
    if (i !== out.length) throw new DatasetError(`${file}:${line}: index ${m[1]} out of order (expected ${out.length + 1})`);
    out.push(m[2]!);
  }
  if (!out.length) throw new DatasetError(`${file}: no classes`);
  return out;
}

/**
 * A split list (UCF101 trainlist01.txt / testlist01.txt): lines "<class>/<video> [label]", paths relative to
 * `root`. The class is the first path component; its index comes from `classes` (e.g. readClassInd) when
 * given, else from the sorted class names of the list. A stated label (1-based, as UCF101) must agree.
 */
export function readSplitList(listFile: string, root: string, classes?: string[]): Dataset {
  const entries = lines(listFile).map(({ text, line }) => {
    const m = /^(\S+)(?:\s+(\d+))?$/.exec(text);
    if (!m) throw new DatasetError(`${listFile}:${line}: expected "<class>/<video> [label]", got "${text}"`);
    const rel = m[1]!.replace(/\\/g, '/');
    const parts = rel.split('/');
    if (parts.length < 2) throw new DatasetError(`${listFile}:${line}: "${rel}" has no class folder (expected <class>/<video>)`);
    return { rel, className: parts[0]!, stated: m[2] === undefined ? undefined : Number(m[2]), line };
  });
  if (!entries.length) throw new DatasetError(`${listFile}: no videos listed`);
  const names = classes ?? [...new Set(entries.map((e) => e.className))].sort();
  const index = new Map(names.map((c, i) => [c, i]));
  const samples = entries.map((e) => {
    const label = index.get(e.className);
    if (label === undefined) throw new DatasetError(`${listFile}:${e.line}: class "${e.className}" is not in the class index`);
    if (e.stated !== undefined && e.stated !== label + 1)
      throw new DatasetError(`${listFile}:${e.line}: label ${e.stated} for "${e.className}", the class index says ${label + 1}`);
    const path = isAbsolute(e.rel) ? e.rel : join(root, e.rel);
    if (!existsSync(path)) throw new DatasetError(`${listFile}:${e.line}: ${path} does not exist`);
    return { path, label, className: e.className };
  });
  return { root, classes: names, samples };
}

export interface SplitOptions {
  /** Fraction for validation, in [0, 1) (default 0.2). */
  validation?: number;
  /** Seed of the shuffle (default 0). */
  seed?: number;
}

/**
 * A stratified, seeded split: in every class, round(n * validation) samples (at least 1 when the class has 2 or
 * more and validation > 0) go to validation, chosen by a shuffle seeded with (seed, class). Both parts keep the
 * dataset's order.
 */
export function stratifiedSplit(samples: readonly Sample[], o: SplitOptions = {}): { train: Sample[]; validation: Sample[] } {
  const frac = o.validation ?? 0.2;
  if (!(frac >= 0 && frac < 1)) throw new RangeError(`stratifiedSplit: 'validation' must be in [0, 1), got ${frac}`);
  const byClass = new Map<number, number[]>();
  samples.forEach((s, i) => byClass.set(s.label, [...(byClass.get(s.label) ?? []), i]));
  const val = new Set<number>();
  for (const [label, idx] of byClass) {
    let k = Math.round(idx.length * frac);
    if (frac > 0 && k === 0 && idx.length >= 2) k = 1;
    shuffle([...idx], mulberry32(deriveSeed(o.seed ?? 0, label)))
      .slice(0, k)
      .forEach((i) => val.add(i));
  }
  return { train: samples.filter((_, i) => !val.has(i)), validation: samples.filter((_, i) => val.has(i)) };
}

/** Writes the class index (one name per line, label = line - 1; the format of label_map.txt), atomically. */
export function writeClassIndex(file: string, classes: readonly string[]): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    writeSync(fd, classes.map((c) => `${c}\n`).join(''));
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new DatasetError(`${file}: cannot write the class index (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Reads a class index written by writeClassIndex (or any label map: one class per line). */
export function readClassIndex(file: string): string[] {
  const names = lines(file).map((l) => l.text);
  if (!names.length) throw new DatasetError(`${file}: no classes`);
  return names;
}

export interface VideoReport {
  path: string;
  className: string;
  /** Frames at `fps`, counted by decoding. */
  frames?: number;
  /** frames / fps. */
  durationSec?: number;
  width?: number;
  height?: number;
  codec?: string;
  /** Why the video cannot be used (its VideoError message). */
  error?: string;
  errorCode?: string;
}

export interface InspectOptions extends Limits {
  /** Frame rate the frames are counted at (default 25). */
  fps?: number;
  /** Videos decoded at once (default 2). */
  jobs?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Probes and decodes every video of `ds` (counting frames at `fps`); unreadable ones carry their reason. */
export async function inspectDataset(ds: Dataset, o: InspectOptions = {}): Promise<VideoReport[]> {
  const fps = o.fps ?? 25;
  const out: VideoReport[] = new Array(ds.samples.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < ds.samples.length; i = next++) {
      const s = ds.samples[i]!;
      try {
        const info = await probeVideo(s.path, o);
        const frames = await countFrames(s.path, { ...o, fps, info });
        out[i] = {
          path: s.path,
          className: s.className,
          frames,
          durationSec: frames / fps,
          width: info.width,
          height: info.height,
          codec: info.codec,
        };
      } catch (e) {
        if (!(e instanceof VideoError)) throw e;
        out[i] = { path: s.path, className: s.className, error: e.message, errorCode: e.code };
      }
      o.onProgress?.(++done, ds.samples.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs ?? 2) }, worker));
  return out;
}

/** A path relative to the dataset root, for display. */
export function displayPath(ds: Dataset, path: string): string {
  const r = relative(ds.root, path);
  return r.startsWith('..') ? path : r;
}
