// Training checkpoints: one folder each (`best`, `last`) holding the model's tensors, the optimizer's momentum
// buffers, the trainer's state and the effective parameters. A folder is written beside its final name and swapped
// in with renames, so an interruption leaves either the old checkpoint or the new one, never a mix.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { I3DError } from '../core/errors.js';
import { processAlive } from '../core/lock.js';
import { fsyncDir, isTempName, tempPathFor, writeJsonAtomic } from '../core/storage.js';
import type { Module } from '../nn/module.js';
import type { SGD } from '../optim/sgd.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { loadStateInto } from '../weights/model-folder.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';
import { WeightsError } from '../weights/errors.js';
import { lstmConfigIfDescribed, writeModelConfig } from '../weights/model-config.js';

export interface EpochRecord {
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
  /**
   * Where the epoch's seconds went: waiting for the batch generator (decoding, preprocessing), the training steps
   * (forward, loss, backward, SGD), validation. Older logs and checkpoints lack it.
   */
  time?: { dataSec: number; stepSec: number; validationSec: number };
}

export interface TrainerState {
  /** The last completed epoch. */
  epoch: number;
  bestValAccuracy: number;
  bestEpoch: number;
  history: EpochRecord[];
}

/** Everything `state.json` holds: the trainer's state, the effective parameters and the model description. */
export interface CheckpointMeta<P = unknown, M = unknown> {
  format: 'i3d-checkpoint';
  version: 1;
  trainer: TrainerState;
  params: P;
  model: M;
}

/**
 * Removes checkpoint folders that a killed writer left beside `dir` (its process is gone): temporary ones, and the
 * previous checkpoint set aside by an interrupted swap once `dir` itself is complete again (before that, it is
 * the checkpoint findCheckpoint resumes from).
 */
function removeDebris(dir: string): void {
  const prefix = `.${basename(dir)}.`;
  const complete = existsSync(join(dir, 'state.json'));
  for (const name of readdirSync(dirname(dir))) {
    if (!name.startsWith(prefix)) continue;
    const aside = /^old-(\d+)$/.exec(name.slice(prefix.length));
    if (!isTempName(name) && !(aside && complete)) continue;
    const pid = Number(aside ? aside[1] : name.slice(prefix.length).split('.')[0]);
    if (!processAlive(pid)) rmSync(join(dirname(dir), name), { recursive: true, force: true });
  }
}

/** Writes a checkpoint folder atomically (model, optimizer buffers, meta). */
export function saveCheckpoint(dir: string, model: Module, opt: SGD | null, meta: CheckpointMeta): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  removeDebris(dir);
  const tmp = tempPathFor(dir);
  try {
    mkdirSync(tmp);
    fillCheckpoint(tmp, model, opt, meta);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw checkpointDiskError(dir, e);
  }
  const old = join(parent, `.${basename(dir)}.old-${process.pid}`);
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  fsyncDir(parent);
  rmSync(old, { recursive: true, force: true });
}

/** A failed checkpoint write (disk full, ...) as I3D_DISK naming the checkpoint, not its temporary folder. */
function checkpointDiskError(dir: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const disk = e instanceof I3DError ? e.code === 'I3D_DISK' : typeof code === 'string' && /^E[A-Z]+$/.test(code);
  if (!disk) return e;
  const why = /cannot write \((.*)\); any previous/.exec((e as Error).message)?.[1] ?? (e as Error).message;
  const file = e instanceof I3DError ? /([^/\\]+): cannot write/.exec(e.message)?.[1] : undefined;
  return new I3DError(
    'I3D_DISK',
    `${dir}: cannot write the checkpoint (${why}${file ? `, writing ${file}` : ''}); the previous ${basename(dir)} checkpoint is intact`,
    { cause: e },
  );
}

function fillCheckpoint(tmp: string, model: Module, opt: SGD | null, meta: CheckpointMeta): void {
  writeSafetensors(join(tmp, 'model.safetensors'), model.stateTensors(), { format: 'i3d-checkpoint' });
  if (opt) {
    const names = model.namedParameters();
    const index = new Map(opt.params.map((p, i) => [p, i]));
    const buffers = new Map<string, Tensor>();
    const state = opt.state();
    for (const [name, p] of names) {
      const b = state.buffers[index.get(p) ?? -1];
      if (b) buffers.set(name, b);
    }
    writeSafetensors(join(tmp, 'optimizer.safetensors'), buffers, { lr: String(opt.lr) });
  }
  writeJsonAtomic(join(tmp, 'state.json'), meta);
  // The model folder's description in the one config.json format (an I3D-LSTM's, from a complete training description).
  const config = lstmConfigIfDescribed(meta.model);
  if (config) writeModelConfig(tmp, config);
}

/** A checkpoint folder, recovering one left aside by an interrupted swap. */
export function findCheckpoint(dir: string): string | null {
  if (existsSync(join(dir, 'state.json'))) return dir;
  const parent = dirname(dir);
  if (!existsSync(parent)) return null;
  const aside = readdirSync(parent).find((n) => n.startsWith(`.${basename(dir)}.old-`));
  return aside && existsSync(join(parent, aside, 'state.json')) ? join(parent, aside) : null;
}

export function readCheckpointMeta<P, M>(dir: string): CheckpointMeta<P, M> {
  const path = join(dir, 'state.json');
  let meta: CheckpointMeta<P, M>;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as CheckpointMeta<P, M>;
  } catch (e) {
    throw new WeightsError(`${path}: not a readable checkpoint state (${(e as Error).message})`);
  }
  if (meta.format !== 'i3d-checkpoint' || meta.version !== 1) throw new WeightsError(`${path}: not an i3d checkpoint (format/version)`);
  return meta;
}

/** Loads a checkpoint's tensors into the model and, when given, the optimizer's momentum buffers. */
export function loadCheckpointInto(dir: string, model: Module, opt: SGD | null): void {
  const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
  loadStateInto(model, tensors, join(dir, 'model.safetensors'));
  if (!opt) return;
  const path = join(dir, 'optimizer.safetensors');
  if (!existsSync(path)) throw new WeightsError(`${dir}: no optimizer.safetensors to resume from`);
  const { tensors: stored, metadata } = readSafetensors(path);
  const byParam = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  noGrad(() => {
    const buffers = opt.params.map((p) => {
      const s = stored.get(byParam.get(p) ?? '');
      return s ? scope(() => tensor(s.data, s.shape).keep()) : null;
    });
    opt.loadState({ lr: Number(metadata.lr ?? opt.lr), buffers });
    for (const b of buffers) b?.dispose();
  });
}
