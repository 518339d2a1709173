// Generated clips where only motion tells the class: a bright bar drifting left or right over noise.
// Every single frame has the same distribution in both classes.
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import * as v from '../../src/tensor/validate.js';
import { mulberry32 } from '../../src/core/rng.js';

export interface MovingBarsOptions {
  count: number;
  frames?: number;
  size?: number;
  seed?: number;
}

/** Clips [count, frames, size, size, 3] in [-1, 1] and int64 labels [count] (0: bar moves right, 1: left). */
export function movingBars(o: MovingBarsOptions): { clips: Tensor; labels: Tensor } {
  const count = v.int('movingBars', 'count', o.count, 1);
  const T = v.int('movingBars', 'frames', o.frames ?? 8, 2);
  const S = v.int('movingBars', 'size', o.size ?? 16, 4);
  const rnd = mulberry32(o.seed ?? 1);
  const data = new Float32Array(count * T * S * S * 3);
  const labels = new BigInt64Array(count);
  for (let n = 0; n < count; n++) {
    const label = n % 2;
    labels[n] = BigInt(label);
    const dir = label === 0 ? 1 : -1;
    const start = Math.floor(rnd() * S);
    for (let t = 0; t < T; t++) {
      const col = (((start + dir * t) % S) + S) % S;
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const on = x === col || x === (col + 1) % S;
          for (let c = 0; c < 3; c++) {
            const i = ((((n * T + t) * S + y) * S + x) * 3 + c) as number;
            data[i] = (on ? 0.8 : -0.8) + (rnd() - 0.5) * 0.4;
          }
        }
    }
  }
  return { clips: tensor(data, [count, T, S, S, 3]), labels: tensor(labels, [count]) };
}
