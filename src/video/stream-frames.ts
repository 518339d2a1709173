// A whole video as a stream of model-ready frames, for inference in bounded memory (src/inference/chunked.ts): the
// frames are counted first (the one-pass model's 'SAME' padding depends on the length), then decoded one at a time
// and preprocessed as `loadClip` (clip.ts) and the flow clip loader (flow-clip.ts) do for a whole video with a centre
// crop: RGB resized in TypeScript (bilinear) and scaled to [-1, 1]; flow by TV-L1 between consecutive frames resized
// by ffmpeg, centre-cropped, clipped to [-20, 20] and divided by 20. Nothing but the frames in flight is held.
import type { Stream } from '../core/stream.js';
import { countFrames, decodeFrames } from './decode.js';
import { DEFAULT_TIMEOUT_MS } from './ffmpeg.js';
import { VideoError } from './errors.js';
import { centerCropFlow, flowSequence, rgbToGray, scaleFlow, type FlowImpl, type GrayFrame } from './flow.js';
import { probeVideo, type Limits } from './probe.js';
import { cropOffset, Resizer, shorterSide } from './transforms.js';

export interface StreamFramesOptions extends Limits {
  /** Crop side (default 224). */
  size?: number;
  /** Shorter side before the crop (default 256); false: no resize. */
  resize?: number | false;
  /** Frames per second (default 25). */
  fps?: number;
  /** The flow stream's TV-L1 (default: $I3D_FLOW_IMPL, else ours). */
  flowImpl?: FlowImpl;
}

export interface FrameStream {
  file: string;
  stream: Stream;
  /** Frames the stream will yield (flow: one less than the video's). */
  frames: number;
  height: number;
  width: number;
  channels: number;
  /** Frames per second of the video as sampled. */
  fps: number;
  /** size x size x channels values per frame, in [-1, 1]. */
  source: AsyncIterable<Float32Array>;
}

function geometry(o: StreamFramesOptions): { size: number; resize: number | false; fps: number } {
  const size = o.size ?? 224;
  const resize = o.resize === false ? false : (o.resize ?? 256);
  const fps = o.fps ?? 25;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`streamFrames: 'size' must be a positive integer, got ${size}`);
  if (resize !== false && (!Number.isInteger(resize) || resize < size))
    throw new RangeError(`streamFrames: 'resize' must be an integer of at least 'size' (${size}), got ${resize}`);
  if (!(fps > 0 && fps <= 240)) throw new RangeError(`streamFrames: 'fps' must be in (0, 240], got ${fps}`);
  return { size, resize, fps };
}

/** The preprocessed frames of `file` for `stream`, counted before any is decoded. */
export async function streamFrames(file: string, stream: Stream, o: StreamFramesOptions = {}): Promise<FrameStream> {
  const { size, resize, fps } = geometry(o);
  const info = await probeVideo(file, o);
  const total = await countFrames(file, { ...o, fps, info });
  const scaled = resize === false ? info : shorterSide(info.width, info.height, resize);
  if (scaled.width < size || scaled.height < size)
    throw new VideoError('TOO_SMALL', file, `${scaled.width}x${scaled.height} frames are smaller than the ${size}x${size} crop`);
  // The model paces the decoder (ffmpeg waits on the pipe), so its time limit grows with the video: 1 s per frame.
  const paced = { ...o, timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS + total * 1000 };
  let decoded = 0;
  const checkCount = () => {
    if (decoded !== total) throw new VideoError('TRUNCATED', file, `decoded ${decoded} frames at ${fps} fps, counted ${total} before`);
  };
  if (stream === 'rgb') {
    const off = cropOffset(scaled.width, scaled.height, size, 'center');
    const resizer = new Resizer(info.width, info.height, scaled.width, scaled.height, 3, { x: off.x, y: off.y, width: size, height: size });
    async function* rgb(): AsyncGenerator<Float32Array> {
      for await (const f of decodeFrames(file, { ...paced, fps, info })) {
        decoded++;
        yield resizer.run(f.data, new Float32Array(size * size * 3), 0, 2 / 255, -1);
      }
      checkCount();
    }
    return { file, stream, frames: total, height: size, width: size, channels: 3, fps, source: rgb() };
  }
  if (total < 2) throw new VideoError('NO_FRAMES', file, 'fewer than 2 frames: no optical flow');
  async function* gray(): AsyncGenerator<GrayFrame> {
    for await (const f of decodeFrames(file, { ...paced, fps, info, ...(resize ? { shorterSide: resize } : {}) })) {
      decoded++;
      yield rgbToGray(f.data, f.width, f.height);
    }
    checkCount();
  }
  async function* flow(): AsyncGenerator<Float32Array> {
    const seq = flowSequence(gray(), scaled.width, scaled.height, o.flowImpl ? { impl: o.flowImpl } : {});
    for await (const field of seq) yield scaleFlow(centerCropFlow(field, scaled.width, scaled.height, size));
  }
  return { file, stream, frames: total - 1, height: size, width: size, channels: 2, fps, source: flow() };
}
