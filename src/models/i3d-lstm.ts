// I3D-LSTM (the seed's models/networks.py): I3D without its top applied to every segment of a video
// (TimeDistributed: segments folded into the batch), each segment's feature vector (the mean of Mixed_5c over the
// remaining time and space), LSTM 512 returning sequences, LSTM 256 (its last step), dropout, and a dense layer
// over the classes (logits; the softmax is in the loss, or in `probabilities`).
import { LSTM, Linear } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { Module } from '../nn/module.js';
import { noGrad } from '../tensor/context.js';
import type { Tensor } from '../tensor/tensor.js';
import * as v from '../tensor/validate.js';
import { I3D, type Stream } from './i3d.js';

export interface I3DLSTMOptions {
  /** Classes of the dense layer. */
  classes: number;
  /** Backbone stream when no backbone is given (default 'rgb'). */
  stream?: Stream;
  /** Backbone width when no backbone is given (default 1, the official I3D). */
  width?: number;
  /** A backbone to use (an I3D without its top; e.g. zoo weights). Default: a new, random one. */
  backbone?: I3D;
  /** Hidden sizes of the two LSTMs (default [512, 256], the seed's). */
  lstm?: readonly [number, number];
  /** Dropout before the dense layer, in training (default 0.5). */
  dropout?: number;
  /** Batch-norm momentum of a new backbone (see I3DOptions.bnMomentum; default 0.01, Keras' 0.99). */
  bnMomentum?: number;
  /** Keep the backbone's weights and batch-norm statistics fixed (default false: fine-tune it). */
  freezeBackbone?: boolean;
}

export class I3DLSTM extends Module {
  readonly backbone: I3D;
  readonly lstm1: LSTM;
  readonly lstm2: LSTM;
  readonly dense: Linear;
  readonly classes: number;
  readonly dropout: number;
  readonly lstmSizes: readonly [number, number];
  #frozen = false;

  constructor(o: I3DLSTMOptions) {
    super();
    this.classes = v.int('I3DLSTM', 'classes', o.classes, 1);
    this.dropout = o.dropout ?? 0.5;
    if (typeof this.dropout !== 'number' || !(this.dropout >= 0 && this.dropout < 1))
      v.fail('I3DLSTM', 'dropout', 'a number in [0, 1)', o.dropout);
    this.lstmSizes = o.lstm ?? [512, 256];
    if (o.backbone && o.backbone.includeTop)
      v.fail('I3DLSTM', 'backbone', 'an I3D without its top (includeTop: false)', 'an I3D with a logits layer');
    this.backbone = this.child(
      'backbone',
      o.backbone ?? new I3D({ stream: o.stream ?? 'rgb', includeTop: false, width: o.width ?? 1, bnMomentum: o.bnMomentum ?? 0.01 }),
    );
    this.lstm1 = this.child('lstm_1', new LSTM(this.backbone.featureChannels, this.lstmSizes[0]));
    this.lstm2 = this.child('lstm_2', new LSTM(this.lstmSizes[0], this.lstmSizes[1]));
    this.dense = this.child('dense', new Linear(this.lstmSizes[1], this.classes));
    this.freezeBackbone(o.freezeBackbone ?? false);
  }

  get stream(): Stream {
    return this.backbone.stream;
  }

  get backboneFrozen(): boolean {
    return this.#frozen;
  }

  /** Freezes (or unfreezes) the backbone: no gradients, and batch norm always in inference mode. */
  freezeBackbone(on = true): this {
    this.#frozen = on;
    noGrad(() => {
      for (const p of this.backbone.parameters()) p.requiresGrad = !on;
    });
    if (on) this.backbone.eval();
    else this.backbone.train(this.training);
    return this;
  }

  override train(on = true): this {
    super.train(on);
    if (this.#frozen) this.backbone.eval();
    return this;
  }

  /** Parameters the optimizer should update (all but a frozen backbone's). */
  trainableParameters(): Tensor[] {
    const frozen = new Set(this.#frozen ? this.backbone.parameters() : []);
    return this.parameters().filter((p) => !frozen.has(p));
  }

  /** Checks clips [B, S, T, H, W, C]. */
  #shape(clips: Tensor): [number, number] {
    const s = clips.shape;
    if (s.length !== 6) v.fail('I3DLSTM.forward', 'clips', '[batch, segments, frames, height, width, channels]', `shape [${s.join(', ')}]`);
    return [s[0]!, s[1]!];
  }

  /** Each segment's backbone features: clips [B, S, T, H, W, C] -> [B, S, F]. */
  segmentFeatures(clips: Tensor): Tensor {
    const [b, s] = this.#shape(clips);
    const folded = clips.reshape([b * s, ...clips.shape.slice(2)]);
    const run = () => this.backbone.forward(folded).features;
    return (this.#frozen ? noGrad(run) : run()).reshape([b, s, this.backbone.featureChannels]);
  }

  /** The head on segment features [B, S, F] -> logits [B, classes] (what a feature cache trains). */
  classify(features: Tensor): Tensor {
    const [seq] = this.lstm1.forward(features);
    const [out] = this.lstm2.forward(seq!);
    const last = out!.narrow(1, out!.size(1) - 1, 1).squeeze(1);
    return this.dense.forward(F.dropout(last, this.dropout, this.training));
  }

  /** Logits [B, classes] for clips [B, S, T, H, W, C]. */
  forward(clips: Tensor): Tensor {
    return this.classify(this.segmentFeatures(clips));
  }

  /** Class probabilities [B, classes]. */
  probabilities(clips: Tensor): Tensor {
    return this.forward(clips).softmax(1);
  }
}
