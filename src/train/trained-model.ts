// A trained I3D-LSTM on disk: a checkpoint folder (model.safetensors + state.json) whose state.json describes the
// model (stream, width, LSTM sizes, classes, labels, clip geometry). `loadTrainedModel` rebuilds it for
// evaluation and prediction.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { I3DLSTM } from '../models/i3d-lstm.js';
import { WeightsError } from '../weights/errors.js';
import { lstmDescriptionOf, readModelConfig, type I3DLSTMDescription } from '../weights/model-config.js';
import { findCheckpoint, loadCheckpointInto, readCheckpointMeta } from './checkpoint.js';
import type { TrainParams } from './params.js';

export type { I3DLSTMDescription };

export function describeModel(p: TrainParams, labels: string[]): I3DLSTMDescription {
  return {
    kind: 'i3d-lstm',
    stream: p.stream,
    width: p.width,
    lstm: [p.lstm[0], p.lstm[1]],
    dropout: p.dropout,
    classes: labels.length,
    labels,
    clip: { segments: p.segments, frames: p.frames, size: p.size, resize: p.resize, fps: p.fps },
  };
}

/** A checkpoint folder, or a training output folder (its `best/`, else `last/`). */
export function resolveModelDir(dir: string): string {
  for (const d of [dir, join(dir, 'best'), join(dir, 'last')]) {
    const found = findCheckpoint(d);
    if (found) return found;
  }
  throw new WeightsError(
    `${dir}: not a trained model (no state.json in it, nor in ${join(dir, 'best')} or ${join(dir, 'last')})` +
      (existsSync(dir) ? '' : ': the folder does not exist'),
  );
}

/**
 * A trained model's description (classes, stream, clip geometry) without loading its weights: from config.json, or
 * from state.json in checkpoints written before config.json.
 */
export function readTrainedDescription(dir: string): I3DLSTMDescription {
  return describeFolder(resolveModelDir(dir));
}

function describeFolder(at: string): I3DLSTMDescription {
  const config = readModelConfig(at);
  if (config) {
    if (config.kind !== 'i3d-lstm') throw new WeightsError(`${at}: config.json describes an I3D, not a trained I3D-LSTM`);
    return lstmDescriptionOf(config);
  }
  const d = readCheckpointMeta<TrainParams, I3DLSTMDescription>(at).model;
  if (d?.kind !== 'i3d-lstm') throw new WeightsError(`${at}: state.json does not describe an I3D-LSTM`);
  return d;
}

/** Loads a trained I3D-LSTM (eval mode) and its description. */
export function loadTrainedModel(dir: string): { model: I3DLSTM; description: I3DLSTMDescription; dir: string } {
  const at = resolveModelDir(dir);
  const d = describeFolder(at);
  const model = new I3DLSTM({ classes: d.classes, stream: d.stream, width: d.width, lstm: d.lstm, dropout: d.dropout });
  try {
    loadCheckpointInto(at, model, null);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model: model.eval(), description: d, dir: at };
}
