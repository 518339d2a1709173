// Inception-v1 I3D (Carreira & Zisserman 2017) with the layer names of the Keras port, organised as a model
// family file: the unit (conv + batch norm + ReLU), the Inception block, the network, named variants.
// Numerics of the official model: TensorFlow 'SAME' padding (odd pixel after), batch norm without scale
// (epsilon 1e-3), convolutions without bias except the logits, max pools padding with -inf, AvgPool (2, 7, 7)
// 'VALID', logits by a 1x1x1 convolution with bias, then the mean over what remains.
import * as F from '../nn/functional.js';
import { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';
import { I3DError } from '../core/errors.js';

/** Conv3D (no bias) -> BatchNorm (no scale, eps 1e-3) -> ReLU, TF-SAME padding: Keras' `conv3d_bn`. */
export class Unit3d extends Module {
  readonly weight: Tensor;
  readonly beta: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(
    readonly name: string,
    inChannels: number,
    outChannels: number,
    readonly kernel: readonly [number, number, number],
    readonly stride: readonly [number, number, number] = [1, 1, 1],
    readonly bnMomentum = 0.01,
  ) {
    super();
    const fanIn = inChannels * kernel[0] * kernel[1] * kernel[2];
    this.weight = this.param(
      'conv.weight',
      noGrad(() => ops.randn([outChannels, inChannels, ...kernel]).mul(Math.sqrt(2 / fanIn))),
    );
    this.beta = this.param('bn.beta', ops.zeros([outChannels]));
    this.runningMean = this.buffer('bn.running_mean', ops.zeros([outChannels]));
    this.runningVar = this.buffer('bn.running_var', ops.ones([outChannels]));
  }

  forward(x: Tensor): Tensor {
    const y = F.conv3d(x, this.weight, { stride: this.stride, padding: 'same' });
    // Keras' momentum 0.99 for the moving averages is PyTorch's 0.01.
    const n = F.batchNorm(y, {
      bias: this.beta,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      training: this.training,
      momentum: this.bnMomentum,
      eps: 1e-3,
    });
    return n.relu();
  }

  /**
   * forward in inference mode (batch norm on the running statistics, no gradient), every op off the JavaScript thread
   * (the eager inference engine, src/inference/eager.ts).
   */
  inferAsync(x: Tensor): Promise<Tensor> {
    return noGrad(() =>
      scope(async () => {
        const y = await F.conv3d.async(x, this.weight, { stride: this.stride, padding: 'same' });
        const n = await F.batchNorm.async(y, { bias: this.beta, runningMean: this.runningMean, runningVar: this.runningVar, eps: 1e-3 });
        y.dispose();
        return ops.relu.async(n);
      }),
    );
  }
}

/** Channels of a layer in a model of the given width (1 = the official model). */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/** Output channels of an Inception block's branches: [b0 1x1, b1 1x1, b1 3x3, b2 1x1, b2 3x3, b3 pool-1x1]. */
export type InceptionSpec = readonly [number, number, number, number, number, number];

export class InceptionBlock extends Module {
  readonly units: Unit3d[][];
  readonly outChannels: number;

  constructor(
    readonly name: string,
    inChannels: number,
    fullSpec: InceptionSpec,
    width = 1,
    bnMomentum = 0.01,
  ) {
    super();
    const spec = fullSpec.map((c) => scaled(c, width));
    const id = name.replace('Mixed_', ''); // '3b'
    const u = (suffix: string, inC: number, outC: number, k: number) => {
      const unit = new Unit3d(`Conv3d_${id}_${suffix}`, inC, outC, [k, k, k], [1, 1, 1], bnMomentum);
      return this.child(unit.name, unit);
    };
    this.units = [
      [u('0a_1x1', inChannels, spec[0]!, 1)],
      [u('1a_1x1', inChannels, spec[1]!, 1), u('1b_3x3', spec[1]!, spec[2]!, 3)],
      [u('2a_1x1', inChannels, spec[3]!, 1), u('2b_3x3', spec[3]!, spec[4]!, 3)],
      [u('3b_1x1', inChannels, spec[5]!, 1)],
    ];
    this.outChannels = spec[0]! + spec[2]! + spec[4]! + spec[5]!;
  }

  forward(x: Tensor): Tensor {
    const [b0, b1, b2, b3] = this.units as [Unit3d[], Unit3d[], Unit3d[], Unit3d[]];
    const run = (units: Unit3d[], input: Tensor) => units.reduce((h, unit) => unit.forward(h), input);
    const pooled = F.maxPool3d(x, 3, { stride: 1, padding: 'same' });
    return ops.cat([run(b0, x), run(b1, x), run(b2, x), run(b3, pooled)], 1);
  }

  /** forward in inference mode, off the JavaScript thread (see Unit3d.inferAsync); each branch's temporaries freed as it goes. */
  inferAsync(x: Tensor): Promise<Tensor> {
    return noGrad(() =>
      scope(async () => {
        const run = async (units: Unit3d[], input: Tensor) => {
          let h = input;
          for (const unit of units) {
            const next = await unit.inferAsync(h);
            if (h !== input) h.dispose();
            h = next;
          }
          return h;
        };
        const [b0, b1, b2, b3] = this.units as [Unit3d[], Unit3d[], Unit3d[], Unit3d[]];
        const outs = [await run(b0, x), await run(b1, x), await run(b2, x)];
        const pooled = await F.maxPool3d.async(x, 3, { stride: 1, padding: 'same' });
        outs.push(await run(b3, pooled));
        pooled.dispose();
        return ops.cat.async(outs, 1);
      }),
    );
  }
}

/** The blocks of Inception-v1 I3D in order; numbers are max pools (kernel t, h, w; stride t, h, w). */
export const I3D_LAYOUT: readonly (
  | { unit: string; out: number; k: number; stride?: number }
  | { pool: string; k: readonly [number, number, number]; s: readonly [number, number, number] }
  | { mixed: string; spec: InceptionSpec }
)[] = [
  { unit: 'Conv3d_1a_7x7', out: 64, k: 7, stride: 2 },
  { pool: 'MaxPool2d_2a_3x3', k: [1, 3, 3], s: [1, 2, 2] },
  { unit: 'Conv3d_2b_1x1', out: 64, k: 1 },
  { unit: 'Conv3d_2c_3x3', out: 192, k: 3 },
  { pool: 'MaxPool2d_3a_3x3', k: [1, 3, 3], s: [1, 2, 2] },
  { mixed: 'Mixed_3b', spec: [64, 96, 128, 16, 32, 32] },
  { mixed: 'Mixed_3c', spec: [128, 128, 192, 32, 96, 64] },
  { pool: 'MaxPool2d_4a_3x3', k: [3, 3, 3], s: [2, 2, 2] },
  { mixed: 'Mixed_4b', spec: [192, 96, 208, 16, 48, 64] },
  { mixed: 'Mixed_4c', spec: [160, 112, 224, 24, 64, 64] },
  { mixed: 'Mixed_4d', spec: [128, 128, 256, 24, 64, 64] },
  { mixed: 'Mixed_4e', spec: [112, 144, 288, 32, 64, 64] },
  { mixed: 'Mixed_4f', spec: [256, 160, 320, 32, 128, 128] },
  { pool: 'MaxPool2d_5a_2x2', k: [2, 2, 2], s: [2, 2, 2] },
  { mixed: 'Mixed_5b', spec: [256, 160, 320, 32, 128, 128] },
  { mixed: 'Mixed_5c', spec: [384, 192, 384, 48, 128, 128] },
];

export const FEATURE_CHANNELS = 1024;
export const MIN_FRAMES = 8;
export const MIN_SIZE = 32;

export type { Stream } from '../core/stream.js';
import type { Stream } from '../core/stream.js';

export interface I3DOptions {
  /** 'rgb' (3 input channels, default) or 'flow' (2: x and y). */
  stream?: Stream;
  /** Classes of the logits layer (default 400, Kinetics). */
  classes?: number;
  /** With the logits layer (default true). Without it the model gives features only. */
  includeTop?: boolean;
  /** Dropout before the logits layer, in training (default 0). */
  dropout?: number;
  /**
   * Channel multiplier in (0, 1] (default 1, the official model). Smaller widths give CPU-sized I3Ds with the same
   * layers and names (e.g. 0.25: a quarter of the channels, about a sixteenth of the work); the official weights
   * need width 1.
   */
  width?: number;
  /**
   * Weight of each new batch in the batch-norm running statistics (default 0.01: Keras' momentum 0.99, as the
   * seed). Short trainings from scratch want more (e.g. 0.1), or the statistics lag far behind the weights.
   */
  bnMomentum?: number;
}

/** One layer of the network in order, for code that walks it (the fused inference plan). */
export type I3DLayer =
  | { kind: 'unit'; unit: Unit3d }
  | { kind: 'pool'; kernel: readonly [number, number, number]; stride: readonly [number, number, number] }
  | { kind: 'mixed'; block: InceptionBlock };

/** What a forward pass can give. */
export interface I3DOutput {
  /** Mixed_5c: [B, 1024, T/8, H/32, W/32] (channels first, channels-last-3d memory). */
  featureMap: Tensor;
  /** Its mean over time and space: [B, 1024]. */
  features: Tensor;
  /** [B, classes], when the model has its top. */
  logits: Tensor | null;
}

export class I3D extends Module {
  readonly stream: Stream;
  readonly inChannels: number;
  readonly classes: number;
  readonly includeTop: boolean;
  readonly dropout: number;
  readonly width: number;
  /** Channels of Mixed_5c's output (1024 at width 1). */
  readonly featureChannels: number;
  readonly #steps: ((x: Tensor) => Tensor)[] = [];
  /** The layers up to Mixed_5c, in order. */
  readonly layers: I3DLayer[] = [];
  readonly logitsWeight: Tensor | null = null;
  readonly logitsBias: Tensor | null = null;

  constructor(o: I3DOptions = {}) {
    super();
    this.stream = v.oneOf('I3D', 'stream', o.stream ?? 'rgb', ['rgb', 'flow'] as const);
    this.inChannels = this.stream === 'rgb' ? 3 : 2;
    this.classes = v.int('I3D', 'classes', o.classes ?? 400, 1);
    this.includeTop = v.bool('I3D', 'includeTop', o.includeTop ?? true);
    this.dropout = o.dropout ?? 0;
    if (typeof this.dropout !== 'number' || !(this.dropout >= 0 && this.dropout < 1))
      v.fail('I3D', 'dropout', 'a number in [0, 1)', o.dropout);
    this.width = o.width ?? 1;
    if (typeof this.width !== 'number' || !(this.width > 0 && this.width <= 1)) v.fail('I3D', 'width', 'a number in (0, 1]', o.width);
    const bnMomentum = o.bnMomentum ?? 0.01;
    if (typeof bnMomentum !== 'number' || !(bnMomentum > 0 && bnMomentum <= 1))
      v.fail('I3D', 'bnMomentum', 'a number in (0, 1]', o.bnMomentum);
    let channels = this.inChannels;
    for (const l of I3D_LAYOUT) {
      if ('unit' in l) {
        const s = l.stride ?? 1;
        const out = scaled(l.out, this.width);
        const unit = this.child(l.unit, new Unit3d(l.unit, channels, out, [l.k, l.k, l.k], [s, s, s], bnMomentum));
        channels = out;
        this.layers.push({ kind: 'unit', unit });
        this.#steps.push((x) => unit.forward(x));
      } else if ('pool' in l) {
        this.layers.push({ kind: 'pool', kernel: l.k, stride: l.s });
        this.#steps.push((x) => F.maxPool3d(x, l.k, { stride: l.s, padding: 'same' }));
      } else {
        const block = this.child(l.mixed, new InceptionBlock(l.mixed, channels, l.spec, this.width, bnMomentum));
        channels = block.outChannels;
        this.layers.push({ kind: 'mixed', block });
        this.#steps.push((x) => block.forward(x));
      }
    }
    this.featureChannels = channels;
    if (this.includeTop) {
      const bound = 1 / Math.sqrt(channels);
      this.logitsWeight = this.param(
        'Conv3d_6a_1x1.conv.weight',
        noGrad(() =>
          ops
            .rand([this.classes, channels, 1, 1, 1])
            .sub(0.5)
            .mul(2 * bound),
        ),
      );
      this.logitsBias = this.param('Conv3d_6a_1x1.conv.bias', ops.zeros([this.classes]));
    }
  }

  /** Checks a clip batch [B, T, H, W, C] and views it as [B, C, T, H, W] (no copy). */
  #input(clips: Tensor): Tensor {
    const s = clips.shape;
    const ok = s.length === 5 && s[4] === this.inChannels && s[1]! >= MIN_FRAMES && s[2]! >= MIN_SIZE && s[3]! >= MIN_SIZE;
    if (!ok)
      v.fail(
        'I3D.forward',
        'clips',
        `[batch, frames >= ${MIN_FRAMES}, height >= ${MIN_SIZE}, width >= ${MIN_SIZE}, ${this.inChannels}] (${this.stream})`,
        `shape [${s.join(', ')}]`,
      );
    return clips.permute([0, 4, 1, 2, 3]);
  }

  /**
   * Layer `i` of `layers` on x [B, C, T, H, W]: forwardFeatures is every layer in order on the clips viewed as
   * [B, C, T, H, W]. For code that frees each layer's input as it goes (src/inference/chunked.ts).
   */
  forwardLayer(i: number, x: Tensor): Tensor {
    const step = this.#steps[i];
    if (!step) v.fail('I3D.forwardLayer', 'i', `a layer index in [0, ${this.#steps.length})`, i);
    return step(x);
  }

  /**
   * Layer `i` in inference mode (batch norm on the running statistics, no gradient, whatever the model's mode), every
   * op off the JavaScript thread: the eager inference engine (src/inference/eager.ts).
   */
  inferLayerAsync(i: number, x: Tensor): Promise<Tensor> {
    const l = this.layers[i];
    if (!l) v.fail('I3D.inferLayerAsync', 'i', `a layer index in [0, ${this.layers.length})`, i);
    if (l.kind === 'unit') return l.unit.inferAsync(x);
    if (l.kind === 'mixed') return l.block.inferAsync(x);
    return noGrad(() => F.maxPool3d.async(x, l.kernel, { stride: l.stride, padding: 'same' }));
  }

  /** Checks clips [B, T, H, W, C] as forwardFeatures does and views them as [B, C, T, H, W] (no copy). */
  inputView(clips: Tensor): Tensor {
    return this.#input(clips);
  }

  /** Mixed_5c's output for clips [B, T, H, W, C]. */
  forwardFeatures(clips: Tensor): Tensor {
    return this.#steps.reduce((x, step) => step(x), this.#input(clips));
  }

  /**
   * Logits from Mixed_5c's map: AvgPool (2, 7, 7) 'VALID' (kernel clipped to the map for short or small clips),
   * dropout, the 1x1x1 logits convolution, then the mean over the remaining time and space (the official model
   * averages over time; at 224x224 one spatial position remains, so the two agree).
   */
  forwardHead(featureMap: Tensor): Tensor {
    if (!this.logitsWeight)
      throw new I3DError('I3D_BAD_MODEL', 'I3D.forwardHead: this model was built without its top (includeTop: false)');
    const [, , t, h, w] = featureMap.shape as [number, number, number, number, number];
    const pooled = F.avgPool3d(featureMap, [Math.min(2, t), Math.min(7, h), Math.min(7, w)], { stride: 1 });
    const dropped = F.dropout(pooled, this.dropout, this.training);
    return F.conv3d(dropped, this.logitsWeight, { bias: this.logitsBias }).mean([2, 3, 4]);
  }

  /** forwardHead in inference mode (no dropout, no gradient), off the JavaScript thread. */
  headAsync(featureMap: Tensor): Promise<Tensor> {
    if (!this.logitsWeight) return Promise.reject(new Error('I3D.forwardHead: this model was built without its top (includeTop: false)'));
    const [, , t, h, w] = featureMap.shape as [number, number, number, number, number];
    return noGrad(() =>
      scope(async () => {
        const pooled = await F.avgPool3d.async(featureMap, [Math.min(2, t), Math.min(7, h), Math.min(7, w)], { stride: 1 });
        const z = await F.conv3d.async(pooled, this.logitsWeight!, { bias: this.logitsBias });
        return ops.mean.async(z, [2, 3, 4]);
      }),
    );
  }

  forward(clips: Tensor): I3DOutput {
    const featureMap = this.forwardFeatures(clips);
    return {
      featureMap,
      features: featureMap.mean([2, 3, 4]),
      logits: this.includeTop ? this.forwardHead(featureMap) : null,
    };
  }
}

/** The named variants of the official release: stream and pretraining. */
export const I3D_VARIANTS = {
  rgb_imagenet_and_kinetics: { stream: 'rgb', pretraining: 'imagenet_and_kinetics' },
  flow_imagenet_and_kinetics: { stream: 'flow', pretraining: 'imagenet_and_kinetics' },
  rgb_kinetics_only: { stream: 'rgb', pretraining: 'kinetics_only' },
  flow_kinetics_only: { stream: 'flow', pretraining: 'kinetics_only' },
} as const satisfies Record<string, { stream: Stream; pretraining: string }>;
export type I3DVariant = keyof typeof I3D_VARIANTS;

/** An I3D of a named variant, with random weights (load the variant's weights into it). */
export function i3d(variant: I3DVariant, o: Omit<I3DOptions, 'stream'> = {}): I3D {
  const spec = I3D_VARIANTS[variant];
  if (!spec) v.fail('i3d', 'variant', `one of ${Object.keys(I3D_VARIANTS).join(', ')}`, variant);
  return new I3D({ ...o, stream: spec.stream });
}
