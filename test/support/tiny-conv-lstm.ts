// A CPU-sized conv3d + LSTM classifier: the shape of I3D-LSTM in miniature (used for smoke runs and tests).
import { BatchNorm3d, Conv3d, Linear, LSTM } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface TinyConvLstmOptions {
  classes: number;
  channels?: number;
  width?: number;
  hidden?: number;
}

export class TinyConvLstm extends Module {
  readonly conv1: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly conv2: Conv3d;
  readonly bn2: BatchNorm3d;
  readonly lstm: LSTM;
  readonly head: Linear;

  constructor(o: TinyConvLstmOptions) {
    super();
    const c = o.channels ?? 3;
    const w = o.width ?? 8;
    const hdn = o.hidden ?? 16;
    this.conv1 = this.child('conv1', new Conv3d(c, w, [3, 3, 3], { padding: 'same', stride: [1, 2, 2], bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm3d(w, { eps: 1e-3, scale: false }));
    this.conv2 = this.child('conv2', new Conv3d(w, 2 * w, [3, 3, 3], { padding: 'same', stride: [1, 2, 2], bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm3d(2 * w, { eps: 1e-3, scale: false }));
    this.lstm = this.child('lstm', new LSTM(2 * w, hdn));
    this.head = this.child('head', new Linear(hdn, o.classes));
  }

  /** clips [N, T, H, W, C] -> logits [N, classes] */
  forward(clips: Tensor): Tensor {
    const x = clips.permute([0, 4, 1, 2, 3]); // a view: [N, C, T, H, W] in channels-last-3d memory
    const a = this.bn1.forward(this.conv1.forward(x)).relu();
    const b = this.bn2.forward(this.conv2.forward(a)).relu();
    const seq = b.mean([3, 4]).permute([0, 2, 1]); // [N, T, 2w]
    const [out] = this.lstm.forward(seq) as [Tensor];
    const last = out.narrow(1, out.size(1) - 1, 1).squeeze(1);
    return this.head.forward(last);
  }
}
