// Flow clips for the flow stream, with the same options as RGB clips (`loadClip` in clip.ts), so the batch
// generator, evaluation and prediction take either: frames at `fps`, shorter side resized to `resize`, TV-L1 flow
// between consecutive frames (cached on disk), clipped to [-20, 20] and divided by 20, then the same segment or
// window sampling and the same centre or random crop as RGB. A video of N frames gives N - 1 flow fields.
import { deriveSeed, mulberry32 } from '../core/rng.js';
import type { Clip, ClipOptions } from './clip.js';
import { decodeFrames } from './decode.js';
import { VideoError } from './errors.js';
import { videoFlow } from './flow-video.js';
import { clipIndices } from './sample.js';
import { cropOffset, flipHorizontal } from './transforms.js';

export async function loadClip(file: string, o: ClipOptions): Promise<Clip> {
  const size = o.size ?? 224;
  const resize = o.resize === false ? null : (o.resize ?? 256);
  const fps = o.fps ?? 25;
  const seed = o.seed ?? 0;
  const spaceRng = mulberry32(deriveSeed(seed, 1));
  const sampling = { fps, shorterSide: resize, decoder: 'ffmpeg-bilinear' };
  const decode = () => decodeFrames(file, { fps, ...(resize ? { shorterSide: resize } : {}) });
  const { clip: whole } = await videoFlow(file, decode, { sampling, crop: 0 });
  const [, n, h, w] = whole.shape as [number, number, number, number, number];
  if (n < 1) throw new VideoError('NO_FRAMES', file, 'fewer than 2 frames: no optical flow');
  if (w < size || h < size) throw new VideoError('TOO_SMALL', file, `${w}x${h} flow fields are smaller than the ${size}x${size} crop`);
  const off = cropOffset(w, h, size, o.crop ?? 'center', spaceRng);
  const S = o.segments ?? 0;
  const all = o.frames === 'all';
  const T = all ? n : (o.frames as number);
  const indices = clipIndices(n, { ...o, jitter: o.jitter ?? o.crop === 'random' });
  const frameLen = size * size * 2;
  const data = new Float32Array(indices.length * frameLen);
  indices.forEach((f, k) => {
    for (let y = 0; y < size; y++) {
      const src = ((f * h + off.y + y) * w + off.x) * 2;
      data.set(whole.data.subarray(src, src + size * 2), k * frameLen + y * size * 2);
    }
  });
  if (o.flip) flipHorizontal(data, size, 2, true);
  const shape = S ? [1, S, T, size, size, 2] : [1, T, size, size, 2];
  return { data, shape, totalFrames: n, indices };
}
