// One interface for running an I3D's inference, whatever runs it: the oneDNN-fused plan (src/inference/i3d-plan.ts)
// or libtorch's eager ops (src/inference/eager.ts), both off the JavaScript thread; chosen in one place
// (createEngine), which says why whenever it falls back to the eager ops. Later engines (CUDA) go here too.
// predict, extract, evaluate, bench and the service all take an engine from createEngine.
import { I3DError } from '../core/errors.js';
import { type I3D, type I3DOutput, MIN_FRAMES, MIN_SIZE } from '../models/i3d.js';
import { noGrad, scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import type { Block, Precision } from '../tensor/plan.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';
import { cpuSupport, warnOnce } from './cpu-support.js';
import { eagerFeatureMapAsync } from './eager.js';
import { FusedI3D, fusedRefusal } from './i3d-plan.js';

export type EngineKind = 'fused' | 'eager';

export interface EngineOptions {
  /** 'fp32' (default) or 'bf16' (the fused engine on CPUs with AVX512-BF16 or AMX; an error elsewhere). */
  precision?: Precision;
  /** 'fused' (default: where this CPU and the model allow it, else the eager engine with the reason) or 'eager'. */
  engine?: EngineKind;
}

/**
 * Runs an I3D's inference (eval mode, no gradient) off the JavaScript thread. The engine never changes the model's
 * mode and does not own the model: dispose() frees what the engine made (the fused engine's folded weights and
 * plans), the model's owner frees the model. The fused engine snapshots the weights when made: make it after
 * training.
 */
export interface InferenceEngine {
  readonly kind: EngineKind;
  readonly model: I3D;
  readonly precision: Precision;
  /** Why the eager engine runs this model (null on the fused engine). */
  readonly reason: string | null;
  /** Mixed_5c's map [B, C, T/8, H/32, W/32] (contiguous float32) of clips [B, T, H, W, C]. */
  featureMap(clips: Tensor): Promise<Tensor>;
  /** The map, its mean over time and space [B, C], and the logits [B, classes] (null without a top). */
  outputs(clips: Tensor): Promise<I3DOutput>;
  /** The head on a map from featureMap(): logits [B, classes]; an error for a model without its top. */
  logits(featureMap: Tensor): Promise<Tensor>;
  /** Channels per block of the fused plan that runs this clip shape, or null where the eager ops run it. */
  layout(frames: number, height: number, width: number): Block | null;
  /** oneDNN's implementation of each step of the fused plan for this clip shape (empty where the eager ops run it). */
  implementations(frames: number, height: number, width: number): string[];
  /** Frees what is kept per clip shape (the fused plans' buffers); the next clip builds it again. */
  releasePlans(): void;
  dispose(): void;
}

abstract class BaseEngine implements InferenceEngine {
  abstract readonly kind: EngineKind;
  abstract readonly precision: Precision;
  abstract readonly reason: string | null;
  constructor(readonly model: I3D) {}
  abstract featureMap(clips: Tensor): Promise<Tensor>;
  abstract layout(frames: number, height: number, width: number): Block | null;
  abstract implementations(frames: number, height: number, width: number): string[];
  releasePlans(): void {}
  dispose(): void {}

  logits(featureMap: Tensor): Promise<Tensor> {
    return this.model.headAsync(featureMap);
  }

  outputs(clips: Tensor): Promise<I3DOutput> {
    return noGrad(() =>
      scope(async () => {
        const featureMap = await this.featureMap(clips);
        const features = await ops.mean.async(featureMap, [2, 3, 4]);
        const logits = this.model.includeTop ? await this.model.headAsync(featureMap) : null;
        return { featureMap, features, logits };
      }),
    );
  }
}

/** libtorch's eager ops, each op's async twin (src/inference/eager.ts): any model, any device, fp32. */
class EagerEngine extends BaseEngine {
  readonly kind = 'eager';
  readonly precision = 'fp32';
  constructor(
    model: I3D,
    readonly reason: string,
  ) {
    super(model);
  }
  featureMap(clips: Tensor): Promise<Tensor> {
    return eagerFeatureMapAsync(this.model, clips);
  }
  layout(): null {
    return null;
  }
  implementations(): string[] {
    return [];
  }
}

/** The oneDNN plan (src/inference/i3d-plan.ts), run as one native async call per clip batch. */
class FusedEngine extends BaseEngine {
  readonly kind = 'fused';
  readonly reason = null;
  readonly precision: Precision;
  constructor(readonly fused: FusedI3D) {
    super(fused.model);
    this.precision = fused.precision;
  }
  featureMap(clips: Tensor): Promise<Tensor> {
    return this.fused.featureMapAsync(clips);
  }
  layout(frames: number, height: number, width: number): Block | null {
    return this.fused.layout(frames, height, width);
  }
  implementations(frames: number, height: number, width: number): string[] {
    return this.fused.implementations(frames, height, width);
  }
  override releasePlans(): void {
    this.fused.releasePlans();
  }
  override dispose(): void {
    this.fused.dispose();
  }
}

/**
 * The one place that decides which engine runs an I3D's inference: the fused oneDNN path where this CPU has fast
 * kernels for it and the model fits it, else the eager ops, with the reason in `reason`. A fallback for want of a CPU
 * feature also prints one warning naming it; a model that does not fit (narrow widths, a GPU) falls back without
 * one. bf16 is never emulated: where it cannot run fused, this throws with the reason.
 */
export function createEngine(model: I3D, o: EngineOptions = {}): InferenceEngine {
  const precision = v.oneOf('createEngine', 'precision', o.precision ?? 'fp32', ['fp32', 'bf16'] as const);
  const engine = v.oneOf('createEngine', 'engine', o.engine ?? 'fused', ['fused', 'eager'] as const);
  if (engine === 'eager') {
    if (precision !== 'fp32')
      throw new I3DError('I3D_UNSUPPORTED', `--precision ${precision} needs the fused engine (the eager engine runs fp32)`);
    return new EagerEngine(model, 'the eager engine was asked for');
  }
  const refusal = fusedRefusal(model, precision);
  if (!refusal) {
    const fused = new FusedI3D(model, { precision });
    // Below AVX2 (e.g. under ONEDNN_MAX_CPU_ISA=SSE41 or AVX) oneDNN may have only reference kernels for every shape: a
    // probe plan at the smallest clip shape finds out, and then the eager engine runs, with the reason (and one
    // warning). On AVX2 and AVX-512 the probe is skipped (a plan costs about a second to build); each shape's plan
    // is still checked when it is built, and falls back with a warning should any step lack a fast kernel.
    let why: string | null = null;
    try {
      if (!/^(avx2|avx512_core)/.test(cpuSupport().isa)) {
        why = fused.fallbackReason(MIN_FRAMES, MIN_SIZE, MIN_SIZE);
        fused.releasePlans();
      }
    } catch (e) {
      fused.dispose();
      if (precision === 'fp32') throw e;
      throw new I3DError('I3D_UNSUPPORTED', `--precision ${precision}: ${(e as Error).message.replace(/^FusedI3D: /, '')}`);
    }
    if (!why) return new FusedEngine(fused);
    fused.dispose();
    return new EagerEngine(model, why);
  }
  if (precision !== 'fp32') throw new I3DError('I3D_UNSUPPORTED', `--precision ${precision}: ${refusal.reason}`);
  if (refusal.kind === 'cpu') warnOnce(`I3D fused path: ${refusal.reason}; running the eager ops instead (slower)`);
  return new EagerEngine(model, refusal.reason);
}
