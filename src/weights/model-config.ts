// config.json: the one description of a model folder, for both kinds: an I3D (`i3d convert`, `saveModel`) and a
// trained I3D-LSTM (the `best`/`last` checkpoint folders of `i3d train`). Version 2; version 1 (I3D only, the
// same fields) still reads, and I3D-LSTM checkpoints from before config.json are described by their state.json.
import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../core/storage.js';
import { join } from 'node:path';
import { z } from 'zod';
import type { Stream } from '../core/stream.js';
import { officialPreprocessing, type Preprocessing } from './cards.js';
import { WeightsError } from './errors.js';

export const CONFIG_FORMAT = 'i3d-model';
export const CONFIG_VERSION = 2;

const positiveInt = z.number().int().positive();
const stream = z.enum(['rgb', 'flow'], { message: 'must be "rgb" or "flow"' });
const preprocessing = z.strictObject({
  fps: z.number().positive(),
  resizeShorterSide: positiveInt,
  crop: positiveInt,
  range: z.tuple([z.number(), z.number()]),
  flowClip: z.number().positive().optional(),
});
const format = z.literal(CONFIG_FORMAT, { message: `must be "${CONFIG_FORMAT}"` });
const labels = z.array(z.string());

const i3dConfig = z.object({
  format,
  version: z.union([z.literal(1), z.literal(2)]),
  kind: z.literal('i3d'),
  stream,
  classes: positiveInt,
  includeTop: z.boolean({ message: 'must be true or false' }),
  /** Channel multiplier (absent = 1, the official architecture). */
  width: z.number().gt(0).lte(1).optional(),
  labels: labels.optional(),
  preprocessing,
});

const lstmConfig = z.object({
  format,
  version: z.literal(2),
  kind: z.literal('i3d-lstm'),
  stream,
  classes: positiveInt,
  width: z.number().gt(0).lte(1),
  lstm: z.tuple([positiveInt, positiveInt]),
  dropout: z.number().gte(0).lt(1),
  labels,
  preprocessing,
  /** The clips the model takes: `segments` of `frames` frames each, over the whole video. */
  clip: z.strictObject({ segments: positiveInt, frames: positiveInt }),
});

const anyConfig = z
  .discriminatedUnion('kind', [i3dConfig, lstmConfig], { message: 'must be "i3d" or "i3d-lstm"' })
  .refine((c) => c.labels === undefined || c.labels.length === c.classes, { message: 'must be one label per class', path: ['labels'] });

/** config.json of an I3D folder. */
export type ModelConfig = z.infer<typeof i3dConfig>;
/** config.json of a trained I3D-LSTM folder. */
export type I3DLSTMConfig = z.infer<typeof lstmConfig>;
export type ModelFolderConfig = ModelConfig | I3DLSTMConfig;

/** A trained I3D-LSTM as training describes it (state.json's `model`; config.json holds the same facts). */
export interface I3DLSTMDescription {
  kind: 'i3d-lstm';
  stream: Stream;
  width: number;
  lstm: [number, number];
  dropout: number;
  classes: number;
  labels: string[];
  /** How clips are made for this model. */
  clip: { segments: number; frames: number; size: number; resize: number; fps: number };
}

export function lstmConfigOf(d: I3DLSTMDescription): I3DLSTMConfig {
  return {
    format: CONFIG_FORMAT,
    version: CONFIG_VERSION,
    kind: 'i3d-lstm',
    stream: d.stream,
    classes: d.classes,
    width: d.width,
    lstm: [d.lstm[0], d.lstm[1]],
    dropout: d.dropout,
    labels: [...d.labels],
    preprocessing: { ...officialPreprocessing(d.stream), fps: d.clip.fps, resizeShorterSide: d.clip.resize, crop: d.clip.size },
    clip: { segments: d.clip.segments, frames: d.clip.frames },
  };
}

/** The config.json of a training description when `d` is a complete I3D-LSTM description, else null. */
export function lstmConfigIfDescribed(d: unknown): I3DLSTMConfig | null {
  const x = d as Partial<I3DLSTMDescription> | null;
  if (x?.kind !== 'i3d-lstm' || !Array.isArray(x.lstm) || !Array.isArray(x.labels) || typeof x.clip !== 'object') return null;
  const r = lstmConfig.safeParse(lstmConfigOf(x as I3DLSTMDescription));
  return r.success ? r.data : null;
}

export function lstmDescriptionOf(c: I3DLSTMConfig): I3DLSTMDescription {
  const p: Preprocessing = c.preprocessing;
  return {
    kind: 'i3d-lstm',
    stream: c.stream,
    width: c.width,
    lstm: [c.lstm[0], c.lstm[1]],
    dropout: c.dropout,
    classes: c.classes,
    labels: [...c.labels],
    clip: { segments: c.clip.segments, frames: c.clip.frames, size: p.crop, resize: p.resizeShorterSide, fps: p.fps },
  };
}

/** The config.json of a model folder, checked; null when the folder has none. Problems name the file and field. */
export function readModelConfig(dir: string): ModelFolderConfig | null {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new WeightsError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > CONFIG_VERSION)
    throw new WeightsError(`${path}: 'version' ${version} is not supported (this is version ${CONFIG_VERSION}): upgrade i3d`);
  const r = anyConfig.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length ? `'${issue.path.join('.')}'` : 'the file';
    throw new WeightsError(`${path}: ${field} ${issue.message}`);
  }
  return r.data;
}

/** Writes `dir`/config.json, replacing the old one atomically. */
export function writeModelConfig(dir: string, config: ModelFolderConfig): void {
  writeJsonAtomic(join(dir, 'config.json'), config);
}
