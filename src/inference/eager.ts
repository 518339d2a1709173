// The eager inference path of an I3D: libtorch's ops one at a time, as in training, but each op off the JavaScript
// thread (the `.async` twin every op has: the libuv pool runs it, the event loop keeps answering).
//
// Why async ops rather than a worker thread owning the model: a worker would need its own copy of the weights (or
// their transfer, and back again after training), its own copy of every clip and every result, and one more place
// where tensors live; async ops run on the very same tensors, with the same scopes, at the cost of one hop to the
// pool per op (about 300 per forward, microseconds each against seconds of convolution). Between ops the JavaScript
// thread does only bookkeeping, so its longest stall is that of the slowest bookkeeping, not of a layer.
import type { I3D } from '../models/i3d.js';
import { noGrad, scope } from '../tensor/context.js';
import * as ops from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Mixed_5c's map [B, C, T/8, H/32, W/32] (contiguous float32) of clips [B, T, H, W, C] on the eager ops in inference
 * mode, off the JavaScript thread; each layer's input is freed once the layer has run (memory: the largest layer's
 * input and output).
 */
export function eagerFeatureMapAsync(model: I3D, clips: Tensor): Promise<Tensor> {
  return noGrad(() =>
    scope(async () => {
      const x = clips.dtype === 'float32' ? clips : await ops.to.async(clips, 'float32');
      let h = model.inputView(x);
      for (let i = 0; i < model.layers.length; i++) {
        const prev = h;
        h = await model.inferLayerAsync(i, prev);
        prev.dispose(); // the input view only drops its handle, the clips stay
      }
      if (h.isContiguous()) return h;
      const map = await ops.contiguous.async(h);
      h.dispose();
      return map;
    }),
  );
}
