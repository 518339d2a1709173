// The training parameters file (the seed's utils/params.py as data): JSON or YAML, validated by a schema, every
// field overridable from the command line, saved beside every checkpoint.
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { errorClass } from '../core/errors.js';

const positiveInt = z.number().int().positive();
const rate = z.number().positive().finite();

export const TrainParamsSchema = z
  .object({
    data: z.string().min(1).describe('dataset folder: data/<class>/<video>'),
    trainList: z.string().optional().describe('UCF101-style train list (paths relative to data), instead of a random split'),
    testList: z.string().optional().describe('UCF101-style test list, used for validation'),
    out: z.string().min(1).describe('output folder: checkpoints, log, report'),
    classes: z
      .array(z.string().min(1))
      .min(2)
      .refine((c) => new Set(c).size === c.length, 'class names must be unique')
      .optional()
      .describe('class folders to train on, in this order (default: every folder, sorted)'),
    stream: z.enum(['rgb', 'flow']).describe("input stream: 'rgb' or 'flow' (TV-L1)"),
    backbone: z.string().min(1).describe("I3D weights: a zoo name (e.g. rgb_imagenet_and_kinetics_no_top), a path, or 'random'"),
    width: z.number().gt(0).lte(1).describe('I3D channel multiplier (1 = the official I3D; pretrained weights need 1)'),
    freeze: z.boolean().describe('keep the backbone (weights and batch-norm statistics) fixed and train the LSTM head'),
    featureCache: z
      .union([z.boolean(), z.string().min(1)])
      .describe('with freeze: cache folder of the backbone features, computed once (true: <out>/features; false: off)'),
    views: positiveInt.describe('with freeze and the feature cache: views cached per training video (1: centre crop; more: augmented)'),
    segments: positiveInt.describe('segments per video'),
    frames: positiveInt.min(8).describe('frames per segment (I3D needs >= 8)'),
    size: positiveInt.min(32).describe('frame size after cropping (official: 224)'),
    resize: positiveInt.min(32).describe('shorter side the frames are resized to before cropping (official: 256)'),
    fps: z.number().positive().describe('frames per second the videos are resampled to (official: 25)'),
    lstm: z.tuple([positiveInt, positiveInt]).describe('hidden sizes of the two LSTMs (seed: 512, 256)'),
    dropout: z.number().min(0).lt(1).describe('dropout before the dense layer'),
    bnMomentum: z
      .number()
      .gt(0)
      .lte(1)
      .describe("batch-norm running-statistics update of a new backbone (Keras' 0.99 = 0.01; short trainings from scratch: 0.1)"),
    flip: z.boolean().describe('random horizontal flips in training (turn off when left/right matters to the classes)'),
    batch: positiveInt.describe('videos per batch'),
    epochs: positiveInt.describe('epochs to train'),
    lr: z.tuple([rate, rate, rate]).describe('learning rates: initial, reduced, final'),
    lrEpochs: z
      .tuple([positiveInt, positiveInt])
      .refine(([a, b]) => a <= b, 'the second boundary must not come before the first')
      .describe('last epoch of the initial rate and of the reduced rate (seed: 10, 15)'),
    momentum: z.number().min(0).lt(1).describe('SGD momentum'),
    weightDecay: z.number().min(0).describe('L2 weight decay'),
    validationSplit: z.number().gt(0).lt(1).describe('share of each class held out for validation (without lists)'),
    seed: z.number().int().min(0).describe('random seed (split, shuffling, augmentation, initialisation)'),
    workers: positiveInt.describe('decoding workers'),
    syncBatchNorm: z
      .boolean()
      .optional()
      .describe('with several ranks: batch norm with the statistics of the global batch (default: per rank, as DDP)'),
    frameCacheMB: z
      .number()
      .min(0)
      .describe('per worker, MB of decoded videos kept in memory across epochs (0: off; for datasets that fit)'),
  })
  .strict();

export type TrainParams = z.infer<typeof TrainParamsSchema>;

/** The defaults: the seed's recipe, on a CPU-friendly clip size. */
export const DEFAULT_PARAMS: Omit<TrainParams, 'data' | 'out'> & { data: string; out: string } = {
  data: 'data',
  out: 'runs/i3d-lstm',
  stream: 'rgb',
  backbone: 'rgb_imagenet_and_kinetics_no_top',
  width: 1,
  freeze: false,
  featureCache: true,
  views: 1,
  segments: 4,
  frames: 16,
  size: 224,
  resize: 256,
  fps: 25,
  lstm: [512, 256],
  dropout: 0.5,
  bnMomentum: 0.01,
  flip: true,
  batch: 2,
  epochs: 20,
  lr: [0.01, 0.001, 0.0001],
  lrEpochs: [10, 15],
  momentum: 0.9,
  weightDecay: 0,
  validationSplit: 0.2,
  seed: 42,
  workers: 2,
  frameCacheMB: 0,
};

/** A parameters file or value that is wrong (I3D_BAD_PARAMS). */
export class ParamsError extends errorClass('ParamsError', 'I3D_BAD_PARAMS') {}

/** Validates raw parameters (defaults filled in); `source` names where they came from in errors. */
export function validateParams(raw: unknown, source: string): TrainParams {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ParamsError(`${source}: expected an object of parameters`);
  const r = TrainParamsSchema.safeParse({ ...DEFAULT_PARAMS, ...(raw as Record<string, unknown>) });
  if (r.success) {
    if (r.data.resize < r.data.size)
      throw new ParamsError(`${source}: 'resize' (${r.data.resize}) must be at least 'size' (${r.data.size})`);
    return r.data;
  }
  const lines = r.error.issues.slice(0, 5).map((i) => `'${i.path.join('.') || '(top)'}': ${i.message}`);
  throw new ParamsError(`${source}: ${lines.join('; ')}`);
}

/** Reads a .json, .yaml or .yml parameters file (not yet validated: overrides come first). */
export function readParamsFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ParamsError(`${path}: no such parameters file`);
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ParamsError(
      `${path}: not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'} (${(e as Error).message.split('\n')[0]})`,
    );
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ParamsError(`${path}: expected a mapping of parameters`);
  return raw as Record<string, unknown>;
}

/** A commented default parameters file in YAML (what `i3d init` writes). */
export function defaultParamsYaml(): string {
  const describe = (key: string) => (TrainParamsSchema.shape as Record<string, { description?: string }>)[key]?.description ?? '';
  const lines = ['# i3d train --config <this file>; every field can be overridden by a flag (i3d train --help).', ''];
  for (const [key, value] of Object.entries(DEFAULT_PARAMS)) {
    lines.push(`# ${describe(key)}`);
    lines.push(Array.isArray(value) ? `${key}: [${value.join(', ')}]` : YAML.stringify({ [key]: value }).trimEnd());
  }
  lines.push(`# ${describe('classes')}`, '# classes: [walking, running, jumping]');
  lines.push(`# ${describe('trainList')}`, '# trainList: ucfTrainTestlist/trainlist01.txt');
  lines.push(`# ${describe('testList')}`, '# testList: ucfTrainTestlist/testlist01.txt');
  return `${lines.join('\n')}\n`;
}
