// Layers with PyTorch's default initialisation.
import { noGrad } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';
import * as F from './functional.js';
import { Module } from './module.js';

function uniform(shape: number[], bound: number): Tensor {
  return noGrad(() => ops.zeros(shape).uniform(-bound, bound));
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    o: { bias?: boolean } = {},
  ) {
    super();
    v.int('Linear', 'inFeatures', inFeatures, 1);
    v.int('Linear', 'outFeatures', outFeatures, 1);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', uniform([outFeatures, inFeatures], bound));
    this.bias = o.bias === false ? null : this.param('bias', uniform([outFeatures], bound));
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export interface Conv3dLayerOptions {
  stride?: number | readonly number[];
  padding?: F.Padding3d;
  bias?: boolean;
}

export class Conv3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number | readonly number[];
  readonly padding: F.Padding3d;
  constructor(inChannels: number, outChannels: number, kernel: number | readonly number[], o: Conv3dLayerOptions = {}) {
    super();
    v.int('Conv3d', 'inChannels', inChannels, 1);
    v.int('Conv3d', 'outChannels', outChannels, 1);
    const k = v.intN('Conv3d', 'kernel', kernel, 3, 1);
    const fanIn = inChannels * k.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    this.weight = this.param('weight', uniform([outChannels, inChannels, ...k], bound));
    this.bias = o.bias === false ? null : this.param('bias', uniform([outChannels], bound));
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
  }
  forward(x: Tensor): Tensor {
    return F.conv3d(x, this.weight, { bias: this.bias, stride: this.stride, padding: this.padding });
  }
}

export class BatchNorm3d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;
  constructor(channels: number, o: { eps?: number; momentum?: number; scale?: boolean; center?: boolean } = {}) {
    super();
    v.int('BatchNorm3d', 'channels', channels, 1);
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    this.weight = o.scale === false ? null : this.param('weight', ops.ones([channels]));
    this.bias = o.center === false ? null : this.param('bias', ops.zeros([channels]));
    this.runningMean = this.buffer('runningMean', ops.zeros([channels]));
    this.runningVar = this.buffer('runningVar', ops.ones([channels]));
  }
  forward(x: Tensor): Tensor {
    return F.batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** A stack of LSTM layers over [N, L, I] (batch first); returns [output [N, L, H], hN, cN]. */
export class LSTM extends Module {
  readonly weights: Tensor[] = [];
  constructor(
    readonly inputSize: number,
    readonly hiddenSize: number,
    readonly numLayers = 1,
  ) {
    super();
    v.int('LSTM', 'inputSize', inputSize, 1);
    v.int('LSTM', 'hiddenSize', hiddenSize, 1);
    v.int('LSTM', 'numLayers', numLayers, 1);
    const bound = 1 / Math.sqrt(hiddenSize);
    for (let l = 0; l < numLayers; l++) {
      const inp = l === 0 ? inputSize : hiddenSize;
      this.weights.push(
        this.param(`weight_ih_l${l}`, uniform([4 * hiddenSize, inp], bound)),
        this.param(`weight_hh_l${l}`, uniform([4 * hiddenSize, hiddenSize], bound)),
        this.param(`bias_ih_l${l}`, uniform([4 * hiddenSize], bound)),
        this.param(`bias_hh_l${l}`, uniform([4 * hiddenSize], bound)),
      );
    }
  }
  forward(x: Tensor, state?: readonly [Tensor, Tensor]): Tensor[] {
    const s = state ?? ([0, 1].map(() => ops.zeros([this.numLayers, x.size(0), this.hiddenSize], { dtype: x.dtype })) as [Tensor, Tensor]);
    try {
      return F.lstm(x, s, this.weights, { numLayers: this.numLayers, batchFirst: true, training: this.training });
    } finally {
      if (!state) for (const t of s) t.dispose();
    }
  }
}
