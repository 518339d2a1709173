// A backbone for I3D-LSTM: the I3D trunk without its classifier, random or from pretrained weights.
import type { Stream } from '../core/stream.js';
import { I3D } from '../models/i3d.js';
import { noGrad, scope } from '../tensor/context.js';
import { loadAny } from './convert.js';
import { WeightsError } from './errors.js';
import { RANDOM_WEIGHTS, resolveWeights, type FetchOptions } from './zoo.js';

export async function loadBackbone(
  spec: string,
  stream: Stream,
  width: number,
  o: FetchOptions & { bnMomentum?: number } = {},
): Promise<I3D> {
  if (spec === RANDOM_WEIGHTS) return new I3D({ stream, includeTop: false, width, bnMomentum: o.bnMomentum ?? 0.01 });
  if (width !== 1) throw new WeightsError(`backbone ${spec}: pretrained weights need width 1 (got width ${width}); use backbone 'random'`);
  const { model } = await loadAny(await resolveWeights(spec, o));
  try {
    if (model.stream !== stream) throw new WeightsError(`backbone ${spec}: ${model.stream} weights, but the stream is ${stream}`);
    if (!model.includeTop) return model;
    const bare = new I3D({ stream, includeTop: false });
    const from = model.stateTensors();
    noGrad(() => {
      for (const [name, t] of bare.stateTensors()) scope(() => t.copyFrom(from.get(name)!));
    });
    model.dispose();
    return bare;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
