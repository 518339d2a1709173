// `i3d preprocess`: a video to the model's input clip, saved as .npy (float32, [1, T, 224, 224, 3] or [1, S, T, 224, 224, 3]).
import { InvalidArgumentError, type Command } from 'commander';
import { writeNpy } from '../../io/npy.js';
import { loadClip } from '../../video/clip.js';
import { positiveInt } from '../options.js';

function framesArg(value: string): number | 'all' {
  if (value === 'all') return 'all';
  return positiveInt('--frames')(value);
}

function cropArg(value: string): 'center' | 'random' {
  if (value !== 'center' && value !== 'random') throw new InvalidArgumentError(`--crop must be 'center' or 'random', got '${value}'.`);
  return value;
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${value}'.`);
    return n;
  };
}

function resizeArg(value: string): number | false {
  if (value === 'none') return false;
  return positiveInt('--resize')(value);
}

interface PreprocessOptions {
  resize: number | false;
  frames: number | 'all';
  segments?: number;
  out: string;
  size: number;
  crop: 'center' | 'random';
  fps: number;
  seed: number;
  flip?: boolean;
  timeout: number;
}

export function registerPreprocess(program: Command): void {
  program
    .command('preprocess')
    .description('decode a video as the official I3D does (25 fps, shorter side 256, crop 224, [-1, 1]) and save the clip as .npy')
    .argument('<video>', 'any video file ffmpeg reads (or a GIF)')
    .requiredOption('--out <file>', 'the .npy file to write (float32, [1, T, H, W, 3] or [1, S, T, H, W, 3])')
    .option('--frames <n>', "frames per clip (per segment with --segments), or 'all' for the whole video", framesArg, 'all')
    .option('--segments <s>', 'segments spread evenly over the video (I3D-LSTM)', positiveInt('--segments'))
    .option('--size <n>', 'crop side', positiveInt('--size'), 224)
    .option('--resize <n>', "shorter side before the crop, or 'none' (frames already at the crop size)", resizeArg, 256)
    .option('--crop <mode>', "'center' (test) or 'random' (training, with temporal jitter)", cropArg, 'center')
    .option('--fps <n>', 'frame rate to resample to', positiveInt('--fps'), 25)
    .option('--seed <n>', 'seed of the random crop and jitter', nonNegativeInt('--seed'), 0)
    .option('--flip', 'mirror the clip left-right')
    .option('--timeout <s>', 'time limit of each ffmpeg run, in seconds', positiveInt('--timeout'), 120)
    .action(async (video: string, o: PreprocessOptions) => {
      const clip = await loadClip(video, {
        frames: o.frames,
        ...(o.segments !== undefined && { segments: o.segments }),
        size: o.size,
        resize: o.resize,
        crop: o.crop,
        fps: o.fps,
        seed: o.seed,
        flip: !!o.flip,
        timeoutMs: o.timeout * 1000,
      });
      writeNpy(o.out, clip.data, clip.shape);
      console.log(`${video}: ${clip.totalFrames} frames at ${o.fps} fps -> ${o.out} [${clip.shape.join(', ')}] float32`);
    });
}
