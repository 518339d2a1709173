// `i3d flow`: the flow stream's input for a video: TV-L1 optical flow, clipped to [-20, 20] / 20, as .npy [1, N, 224, 224, 2].
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { writeNpy } from '../../io/npy.js';
import { decodeFrames } from '../../video/decode.js';
import { maxFlowMagnitude, writeFlowPng } from '../../video/flow.js';
import { videoFlow } from '../../video/flow-video.js';
import { flowImplOption, positiveInt } from '../options.js';

interface FlowOptions {
  out: string;
  png?: string;
  fps: number;
  size: number;
  crop: number;
  maxFrames?: number;
  jobs?: number;
  cache: boolean;
}

export function registerFlow(program: Command): void {
  flowImplOption(program.command('flow'))
    .description('TV-L1 optical flow of a video as the flow stream input: .npy [1, N, crop, crop, 2] in [-1, 1], channels (x, y)')
    .argument('<video>', 'a video file ffmpeg can read')
    .requiredOption('--out <file>', 'the .npy file to write')
    .option('--png <dir>', 'also write one colour-coded PNG per flow frame (Middlebury wheel) into this folder')
    .option('--fps <n>', 'sample frames at this rate', positiveInt('--fps'), 25)
    .option('--size <n>', 'resize so the shorter side is this many pixels', positiveInt('--size'), 256)
    .option('--crop <n>', 'centre crop of the flow', positiveInt('--crop'), 224)
    .option('--max-frames <n>', 'use at most this many frames', positiveInt('--max-frames'))
    .option('--jobs <n>', 'frame pairs computed at once (default: all cores)', positiveInt('--jobs'))
    .option('--no-cache', 'neither read nor write the flow cache')
    .action(async (video: string, o: FlowOptions) => {
      const sampling = { fps: o.fps, shorterSide: o.size, maxFrames: o.maxFrames ?? null, decoder: 'ffmpeg-bilinear' };
      const decode = () => decodeFrames(video, { fps: o.fps, shorterSide: o.size, ...(o.maxFrames ? { maxFrames: o.maxFrames } : {}) });
      const r = await videoFlow(video, decode, {
        crop: o.crop,
        sampling,
        ...(o.jobs ? { concurrency: o.jobs } : {}),
        cache: o.cache,
      });
      writeNpy(o.out, r.clip.data, r.clip.shape);
      const [n, h, w] = r.flow.shape as [number, number, number, number];
      if (o.png) {
        await mkdir(o.png, { recursive: true });
        const field = (i: number) => r.flow.data.subarray(i * h * w * 2, (i + 1) * h * w * 2);
        let max = 0;
        for (let i = 0; i < n; i++) max = Math.max(max, maxFlowMagnitude(field(i)));
        for (let i = 0; i < n; i++) await writeFlowPng(join(o.png, `flow_${String(i).padStart(5, '0')}.png`), field(i), w, h, max);
      }
      console.log(
        `${video}: ${n} flow frames ${w}x${h} -> ${o.out} [${r.clip.shape.join(', ')}]${r.cached ? ' (from the cache)' : ''}${o.png ? `, PNGs in ${o.png}` : ''}`,
      );
    });
}
