// Our own model format: one folder per model with `model.safetensors` (our parameter names) and `config.json`
// (kind, stream, classes, labels, preprocessing). Saving writes each file atomically.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { I3D } from '../models/i3d.js';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { throwIfMismatched, WeightsError } from './errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { officialPreprocessing } from './cards.js';
import { CONFIG_FORMAT, CONFIG_VERSION, readModelConfig, writeModelConfig, type ModelConfig } from './model-config.js';

export type { ModelConfig } from './model-config.js';

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
    format: CONFIG_FORMAT,
    version: CONFIG_VERSION,
    kind: 'i3d',
    stream: model.stream,
    classes: model.classes,
    includeTop: model.includeTop,
    ...(model.width !== 1 ? { width: model.width } : {}),
    ...(o.labels ? { labels: o.labels } : {}),
    preprocessing: officialPreprocessing(model.stream),
  };
  writeSafetensors(join(dir, 'model.safetensors'), model.stateTensors(), { format: CONFIG_FORMAT, kind: 'i3d' });
  writeModelConfig(dir, config);
  return config;
}

/** The config.json of an I3D model folder (version 1 or 2). */
export function readConfig(dir: string): ModelConfig {
  const c = readModelConfig(dir);
  if (!c) throw new WeightsError(`${dir}: not a model folder (no config.json)`);
  if (c.kind !== 'i3d')
    throw new WeightsError(`${dir}: a trained I3D-LSTM, not an I3D (use it with i3d evaluate / predict --model, or loadTrainedModel)`);
  return c;
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
