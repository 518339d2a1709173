// The models a server holds, loaded once at start (never from a request): each is named, has its labels, one
// engine per worker slot and its queue. The service talks to models only through `ClipEngine`, so it can move onto
// another inference engine without touching the routes.
import { basename, resolve } from 'node:path';
import type { I3DClip } from '../inference/clip-input.js';
import { ClipRunner, type InferenceOptions } from '../inference/clip-runner.js';
import { labelsFor, RANDOM_WEIGHTS } from '../inference/predict.js';
import { I3D, MIN_FRAMES, type Stream } from '../models/i3d.js';
import { manualSeed } from '../tensor/runtime.js';
import { loadAny } from '../weights/convert.js';
import { isZooName, resolveWeights } from '../weights/zoo.js';
import { Scheduler } from './scheduler.js';
import { I3DError } from '../core/errors.js';

/**
 * What the service needs of a model instance: outputs of one clip [1, T, H, W, C], and a whole video streamed in
 * chunks under a memory budget (`streamLogits`), off the JavaScript thread.
 */
export interface ClipEngine extends Pick<ClipRunner, 'model' | 'streamed'> {
  outputs(clip: I3DClip): Promise<{ logits: number[]; features: number[] }>;
  dispose(): void;
}

export interface ModelSpec {
  /** The name in URLs (`/v2/models/{name}`, `?model=`). */
  name: string;
  /** A model folder, a weights file or checkpoint, a zoo name, or 'random'. */
  source: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** `NAME=PATH` or `PATH` (named by the folder's base name, or the zoo name). */
export function parseModelSpec(arg: string): ModelSpec {
  const eq = arg.indexOf('=');
  const source = eq > 0 ? arg.slice(eq + 1) : arg;
  if (!source) throw new I3DError('I3D_INVALID_ARGUMENT', `--model '${arg}': no path or zoo name after '='`);
  const name = eq > 0 ? arg.slice(0, eq) : isZooName(source) || source === RANDOM_WEIGHTS ? source : basename(resolve(source));
  if (!NAME.test(name))
    throw new I3DError(
      'I3D_INVALID_ARGUMENT',
      `--model '${arg}': the name '${name}' must be 1-64 letters, digits, '_', '.' or '-' (name it: --model NAME=PATH)`,
    );
  return { name, source };
}

export interface ServedModel {
  readonly name: string;
  readonly source: string;
  readonly stream: Stream;
  readonly classes: number;
  readonly featureChannels: number;
  readonly labels: readonly string[];
  /** Seconds the model took to load (all its instances) and warm up. */
  readonly loadSec: number;
  readonly scheduler: Scheduler<ClipEngine>;
  readonly engines: readonly ClipEngine[];
  /**
   * Two-stream: the flow model's instances, one per RGB instance (`flowEngines[i]` runs with `engines[i]`: a lease of
   * an RGB instance holds its flow partner too), whose logits are added to the RGB ones. Null: RGB only.
   */
  readonly flowEngines: readonly ClipEngine[] | null;
}

export interface LoadOptions extends InferenceOptions {
  /** Model instances (requests that run at once) per model. */
  workers: number;
  /** Requests that may wait per model beyond those running. */
  maxQueue: number;
  /** Warm-up clip side (the crop size requests will mostly use). */
  warmupSize: number;
  warn?: (m: string) => void;
}

async function loadInstance(spec: ModelSpec, stream: Stream = 'rgb'): Promise<{ model: I3D; labels?: string[] }> {
  if (spec.source === RANDOM_WEIGHTS) {
    manualSeed(0); // every instance the same random weights
    return { model: new I3D({ stream }).eval() };
  }
  const { model, config } = await loadAny(await resolveWeights(spec.source));
  return { model, ...(config?.labels ? { labels: config.labels } : {}) };
}

/**
 * Loads `workers` instances of a model (and of its flow partner, for two-stream) and runs each once on a small clip
 * (warm-up) before it is served.
 */
export async function loadServedModel(spec: ModelSpec, o: LoadOptions, flowSpec?: ModelSpec): Promise<ServedModel> {
  const t0 = performance.now();
  const engines: ClipEngine[] = [];
  const flowEngines: ClipEngine[] = [];
  let first: I3D | null = null;
  let labels: string[] | undefined;
  try {
    for (let i = 0; i < o.workers; i++) {
      const { model, labels: own } = await loadInstance(spec);
      if (!model.includeTop) {
        model.dispose();
        throw new I3DError('I3D_BAD_MODEL', `--model ${spec.name}: ${spec.source} has no top (logits layer): the service classifies`);
      }
      engines.push(new ClipRunner(model, o));
      if (!first) {
        first = model;
        labels = own;
      }
    }
    const m = first!;
    const names = (await labelsFor(m.classes, labels, { ...(o.warn ? { warn: o.warn } : {}) })) ?? [];
    const warm: I3DClip = {
      data: new Float32Array(MIN_FRAMES * o.warmupSize * o.warmupSize * m.inChannels),
      shape: [1, MIN_FRAMES, o.warmupSize, o.warmupSize, m.inChannels],
    };
    for (const e of engines) await e.outputs(warm);
    if (flowSpec) {
      if (m.stream !== 'rgb')
        throw new I3DError('I3D_USAGE', `--flow-model ${flowSpec.name}: '${spec.name}' is not an RGB model to pair a flow model with`);
      for (let i = 0; i < o.workers; i++) {
        const { model } = await loadInstance(flowSpec, 'flow');
        if (model.stream !== 'flow' || !model.includeTop || model.classes !== m.classes) {
          const what = model.stream !== 'flow' ? `${model.stream} weights` : !model.includeTop ? 'no top' : `${model.classes} classes`;
          model.dispose();
          throw new I3DError(
            'I3D_BAD_MODEL',
            `--flow-model ${flowSpec.name}=${flowSpec.source}: a flow model with a top and ${m.classes} classes is needed, this has ${what}`,
          );
        }
        flowEngines.push(new ClipRunner(model, o));
      }
      const flowWarm: I3DClip = {
        data: new Float32Array(MIN_FRAMES * o.warmupSize * o.warmupSize * 2),
        shape: [1, MIN_FRAMES, o.warmupSize, o.warmupSize, 2],
      };
      for (const e of flowEngines) await e.outputs(flowWarm);
    }
    return {
      name: spec.name,
      source: spec.source,
      stream: m.stream,
      classes: m.classes,
      featureChannels: m.featureChannels,
      labels: names.length ? names : Array.from({ length: m.classes }, (_, i) => String(i)),
      loadSec: (performance.now() - t0) / 1000,
      scheduler: new Scheduler<ClipEngine>(engines, o.maxQueue),
      engines,
      flowEngines: flowSpec ? flowEngines : null,
    };
  } catch (e) {
    for (const x of [...engines, ...flowEngines]) x.dispose();
    throw e;
  }
}
