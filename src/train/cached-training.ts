// Training an I3D-LSTM's head on cached segment features: a DataSplit of feature batches [B, S, F] for `fit`, and
// a model adapter whose forward is `I3DLSTM.classify`. The adapter holds the I3D-LSTM's own layers under their own
// names, so its checkpoints are full I3D-LSTM checkpoints (backbone included) that loadTrainedModel reads.
import { deriveSeed, mulberry32, randInt, shuffle } from '../core/rng.js';
import type { I3DLSTM } from '../models/i3d-lstm.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DataSplit, LabelledBatch, TrainableModel } from './fit.js';
import { readFeatures, type FeatureEntry } from '../features/extract.js';
import { I3DError } from '../core/errors.js';

/** The I3D-LSTM seen by `fit` as a model of segment features: forward = classify; the frozen backbone stays fixed. */
export class CachedFeaturesHead extends Module implements TrainableModel {
  constructor(readonly model: I3DLSTM) {
    super();
    if (!model.backboneFrozen)
      throw new I3DError('I3D_INVALID_ARGUMENT', 'CachedFeaturesHead: the backbone must be frozen (features are computed once)');
    // The same children under the same names as I3DLSTM: the same state tensors, so the same checkpoints.
    this.child('backbone', model.backbone);
    this.child('lstm_1', model.lstm1);
    this.child('lstm_2', model.lstm2);
    this.child('dense', model.dense);
  }

  override train(on = true): this {
    super.train(on);
    this.model.train(on); // the I3D-LSTM's own flag (dropout); keeps the frozen backbone in eval mode
    return this;
  }

  trainableParameters(): Tensor[] {
    return this.model.trainableParameters();
  }

  /** Features [B, S, F] -> logits [B, classes]. */
  forward(features: Tensor): Tensor {
    return this.model.classify(features);
  }

  /** The I3D-LSTM owns the tensors (dispose it instead). */
  override dispose(): void {}
}

export interface FeatureSplitOptions {
  /** Shuffle every epoch and pick one of the views per video and epoch (training); else view 0, in order. */
  training: boolean;
  seed: number;
  batchSize: number;
  /** This process's share of each epoch's order (data-parallel training). */
  select?: (order: number[]) => number[];
}

/** Cached videos as a DataSplit of feature batches [B, S, F] with labels (read from disk batch by batch). */
export function featureSplit(dir: string, entries: readonly FeatureEntry[], o: FeatureSplitOptions): DataSplit {
  const labelled = entries.filter((e) => e.label !== undefined);
  return {
    size: o.select ? o.select(labelled.map((_, i) => i)).length : labelled.length,
    batchSize: o.batchSize,
    async *batches(epoch: number): AsyncIterable<LabelledBatch> {
      const idx = labelled.map((_, i) => i);
      const all = o.training ? shuffle(idx, mulberry32(deriveSeed(o.seed, epoch, 0x5eed))) : idx;
      const order = o.select ? o.select(all) : all;
      for (let b = 0; b < order.length; b += o.batchSize) {
        const rows = order.slice(b, b + o.batchSize).map((i) => {
          const f = readFeatures(dir, labelled[i]!);
          const [views, s, c] = f.shape as [number, number, number];
          const view = o.training && views > 1 ? randInt(mulberry32(deriveSeed(o.seed, epoch, i, 0xfea7)), views) : 0;
          return { data: f.data.subarray(view * s * c, (view + 1) * s * c), s, c, label: labelled[i]!.label! };
        });
        const { s, c } = rows[0]!;
        const clips = new Float32Array(rows.length * s * c);
        rows.forEach((r, k) => clips.set(r.data, k * s * c));
        yield { clips, shape: [rows.length, s, c], labels: rows.map((r) => r.label) };
      }
    },
  };
}
