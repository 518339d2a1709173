// Our own model format: one folder per model with `model.safetensors` (our parameter names) and `config.json`
// (kind, stream, classes, labels, preprocessing). Saving writes each file atomically.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../core/storage.js';
import { join } from 'node:path';
import { I3D, type Stream } from '../models/i3d.js';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { throwIfMismatched, WeightsError } from './errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export const FORMAT = 'i3d-model';
export const FORMAT_VERSION = 1;

export interface ModelConfig {
  format: typeof FORMAT;
  version: number;
  kind: 'i3d';
  stream: Stream;
  classes: number;
  includeTop: boolean;
  /** Channel multiplier (absent = 1, the official architecture). */
  width?: number;
  labels?: string[];
  preprocessing: { fps: number; resizeShorterSide: number; crop: number; range: [number, number]; flowClip?: number };
}

export function defaultPreprocessing(stream: Stream): ModelConfig['preprocessing'] {
  return stream === 'rgb'
    ? { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1] }
    : { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1], flowClip: 20 };
}

/** Copies stored tensors into a module after checking that names and shapes agree exactly. */
export function loadStateInto(model: Module, stored: Map<string, { shape: number[]; data: Float32Array }>, source: string): void {
  const state = model.stateTensors();
  const problems: string[] = [];
  for (const [name, t] of state) {
    const s = stored.get(name);
    if (!s) problems.push(`missing '${name}' (shape [${t.shape.join(', ')}])`);
    else if (s.shape.join() !== t.shape.join())
      problems.push(`'${name}' has shape [${s.shape.join(', ')}], expected [${t.shape.join(', ')}]`);
  }
  for (const name of stored.keys()) if (!state.has(name)) problems.push(`unexpected '${name}'`);
  throwIfMismatched(source, problems);
  noGrad(() => {
    for (const [name, t] of state) scope(() => t.copyFrom(tensor(stored.get(name)!.data, stored.get(name)!.shape)));
  });
}

/** Saves an I3D as a model folder. */
export function saveModel(model: I3D, dir: string, o: { labels?: string[] } = {}): ModelConfig {
  if (o.labels && o.labels.length !== model.classes)
    throw new WeightsError(`saveModel: ${o.labels.length} labels for a model of ${model.classes} classes`);
  mkdirSync(dir, { recursive: true });
  const config: ModelConfig = {
    format: FORMAT,
    version: FORMAT_VERSION,
    kind: 'i3d',
    stream: model.stream,
    classes: model.classes,
    includeTop: model.includeTop,
    ...(model.width !== 1 ? { width: model.width } : {}),
    ...(o.labels ? { labels: o.labels } : {}),
    preprocessing: defaultPreprocessing(model.stream),
  };
  writeSafetensors(join(dir, 'model.safetensors'), model.stateTensors(), { format: FORMAT, kind: 'i3d' });
  writeJsonAtomic(join(dir, 'config.json'), config);
  return config;
}

export function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new WeightsError(`${dir}: not a model folder (no config.json)`);
  let c: Partial<ModelConfig>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as Partial<ModelConfig>;
  } catch (e) {
    throw new WeightsError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (why: string): never => {
    throw new WeightsError(`${path}: ${why}`);
  };
  if (c.format !== FORMAT) bad(`'format' must be "${FORMAT}"`);
  if (c.version !== FORMAT_VERSION) bad(`'version' ${String(c.version)} is not supported (this is version ${FORMAT_VERSION})`);
  if (c.kind !== 'i3d') bad(`'kind' must be "i3d"`);
  if (c.stream !== 'rgb' && c.stream !== 'flow') bad(`'stream' must be "rgb" or "flow"`);
  if (!Number.isInteger(c.classes) || (c.classes as number) < 1) bad(`'classes' must be a positive integer`);
  if (typeof c.includeTop !== 'boolean') bad(`'includeTop' must be true or false`);
  if (c.width !== undefined && !(typeof c.width === 'number' && c.width > 0 && c.width <= 1)) bad(`'width' must be a number in (0, 1]`);
  if (
    c.labels !== undefined &&
    (!Array.isArray(c.labels) || c.labels.length !== c.classes || !c.labels.every((l) => typeof l === 'string'))
  )
    bad(`'labels' must be ${String(c.classes)} strings`);
  return c as ModelConfig;
}

/** Loads a model folder: the model (in eval mode) and its config. */
export function loadModel(dir: string): { model: I3D; config: ModelConfig } {
  const config = readConfig(dir);
  const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
  const model = new I3D({
    stream: config.stream,
    classes: config.classes,
    includeTop: config.includeTop,
    width: config.width ?? 1,
  }).eval();
  try {
    loadStateInto(model, tensors, join(dir, 'model.safetensors'));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config };
}
