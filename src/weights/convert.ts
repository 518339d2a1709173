// `i3d convert`: any supported weights (Keras HDF5, TensorFlow checkpoint, our folder) into our folder format.
// The architecture (stream, classes, top) is read off the source's own tensors.
import { existsSync, statSync } from 'node:fs';
import { I3D, type I3DOptions } from '../models/i3d.js';
import { WeightsError } from './errors.js';
import { loadKerasH5, openKerasH5 } from './keras-h5.js';
import { loadModel, saveModel, type ModelConfig } from './model-folder.js';
import { checkpointToOurs, loadTfCheckpoint, readCheckpointIndex } from './tf-checkpoint.js';

export type SourceFormat = 'keras-h5' | 'tf-checkpoint' | 'folder';

/** What a path holds: a model folder, a Keras .h5 file, or a checkpoint (its prefix, or its .index file). */
export function detectFormat(path: string): { format: SourceFormat; path: string } {
  if (existsSync(path) && statSync(path).isDirectory()) return { format: 'folder', path };
  if (path.endsWith('.index') && existsSync(path)) return { format: 'tf-checkpoint', path: path.slice(0, -'.index'.length) };
  if (existsSync(`${path}.index`)) return { format: 'tf-checkpoint', path };
  if (/\.(h5|hdf5|keras)$/i.test(path)) return { format: 'keras-h5', path };
  if (!existsSync(path)) throw new WeightsError(`${path}: no such file, folder or checkpoint (looked for ${path}.index too)`);
  return { format: 'keras-h5', path };
}

/** Stream, classes and top from the stem's kernel (kt, kh, kw, in, out) and the logits kernel, if any. */
function architecture(stem: number[] | undefined, logits: number[] | undefined, source: string): I3DOptions {
  if (!stem || stem.length !== 5 || (stem[3] !== 3 && stem[3] !== 2))
    throw new WeightsError(`${source}: no I3D stem (Conv3d_1a_7x7 kernel with 3 or 2 input channels) found`);
  return { stream: stem[3] === 3 ? 'rgb' : 'flow', includeTop: logits !== undefined, classes: logits ? logits[4]! : 400 };
}

/** Loads any supported weights into a new I3D (eval mode), inferring its architecture. */
export async function loadAny(path: string): Promise<{ model: I3D; format: SourceFormat; config?: ModelConfig }> {
  const src = detectFormat(path);
  if (src.format === 'folder') {
    const { model, config } = loadModel(src.path);
    return { model, format: src.format, config };
  }
  let options: I3DOptions;
  if (src.format === 'keras-h5') {
    const { weights, close } = await openKerasH5(src.path);
    close();
    options = architecture(weights.get('Conv3d_1a_7x7_conv/kernel:0')?.shape, weights.get('Conv3d_6a_1x1_conv/kernel:0')?.shape, src.path);
  } else {
    const index = readCheckpointIndex(`${src.path}.index`);
    const shapeOf = (ours: string) => [...index.entries.values()].find((e) => checkpointToOurs(e.name) === ours)?.shape;
    options = architecture(shapeOf('Conv3d_1a_7x7.conv.weight'), shapeOf('Conv3d_6a_1x1.conv.weight'), src.path);
  }
  const model = new I3D(options).eval();
  try {
    if (src.format === 'keras-h5') await loadKerasH5(model, src.path);
    else loadTfCheckpoint(model, src.path);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, format: src.format };
}

/** Converts `input` into a model folder at `output`; labels (one per class) are stored in its config. */
export async function convert(
  input: string,
  output: string,
  o: { labels?: string[] } = {},
): Promise<{ format: SourceFormat; config: ModelConfig }> {
  const { model, format, config } = await loadAny(input);
  try {
    const labels = o.labels ?? config?.labels;
    return { format, config: saveModel(model, output, labels ? { labels } : {}) };
  } finally {
    model.dispose();
  }
}
