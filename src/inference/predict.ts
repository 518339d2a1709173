// `i3d predict` as a library call: weights by zoo name or path (or random), an RGB clip, optionally a flow clip
// and flow weights (two-stream: the streams' logits are added), labels, top-k.
import { I3D, type Stream } from '../models/i3d.js';
import { loadAny } from '../weights/convert.js';
import { readLabels } from '../weights/labels.js';
import { kinetics400LabelsFile, resolveWeights, type FetchOptions } from '../weights/zoo.js';
import { WeightsError } from '../weights/errors.js';
import { addLogits, topK, type Prediction } from './classify.js';
import { ClipRunner, type FrameSource, type InferenceOptions } from './clip-runner.js';
import { checkClip, ClipError, readClipNpy, type I3DClip } from './clip-input.js';
import { PREFETCH_BYTES, prefetch } from './prefetch.js';
import type { ChunkProgress } from './chunked.js';
import { windowLogits, windowSpans } from './windows.js';
import { loadClip } from '../video/clip.js';
import type { Limits } from '../video/probe.js';
import { loadClip as loadFlowClip } from '../video/flow-clip.js';
import { streamFrames } from '../video/stream-frames.js';
import { MIN_FRAMES } from '../models/i3d.js';
import type { WindowPrediction } from './windows.js';
import { I3DError } from '../core/errors.js';

/** `random` stands for random weights (to try the pipeline without a download; the classes mean nothing). */
export { RANDOM_WEIGHTS } from '../weights/zoo.js';
import { RANDOM_WEIGHTS } from '../weights/zoo.js';

export interface PredictOptions extends FetchOptions, VideoInputOptions, InferenceOptions {
  /** RGB weights: a zoo name, a path, or 'random' (default 'rgb_imagenet_and_kinetics'). */
  weights?: string;
  /** Flow weights for two-stream (default 'flow_imagenet_and_kinetics' with a flow clip); with a video input and no flow clip, the flow is computed from the video. */
  flowWeights?: string;
  /** The flow clip (.npy [1, T, H, W, 2]) for two-stream. */
  flow?: string;
  /** How many classes to list (default 5). */
  top?: number;
  /** A label file (one class per line); default: the model's own labels, or Kinetics-400 for 400 classes. */
  labels?: string;
  /** Called with warnings (default: none are reported). */
  warn?: (message: string) => void;
  /**
   * Bytes whole-video inference may use (default DEFAULT_MAX_MEMORY, about 2 GB for `i3d predict`): the video runs in
   * overlapping chunks of as many frames as fit, with the same result as one pass.
   */
  maxMemory?: number;
  /** One prediction per window of this many seconds too (from the same streamed feature map). */
  window?: number;
  /** Seconds between window starts (default: the window). */
  stride?: number;
  /**
   * false: the flow of a video is always computed as it streams, never read from or written to the flow cache (the
   * service's uploads). Default true: videos up to FLOW_CACHE_MAX_FRAMES go through the cache.
   */
  flowCache?: boolean;
  /** Progress of each stream's chunked run (frames decoded, chunks done). */
  onChunkProgress?: (stream: Stream, p: ChunkProgress) => void;
}

export interface PredictResult extends Prediction {
  /** The stream(s) whose logits were added. */
  streams: Stream[];
  /** With `window`: one prediction per window. */
  windows?: WindowPrediction[];
}

/** An I3D for a stream from a weights argument; refuses weights of the other stream. */
export async function loadClassifier(spec: string, stream: Stream, o: FetchOptions = {}): Promise<{ model: I3D; labels?: string[] }> {
  if (spec === RANDOM_WEIGHTS) return { model: new I3D({ stream }).eval() };
  const path = await resolveWeights(spec, o);
  const { model, config } = await loadAny(path);
  if (model.stream !== stream) {
    model.dispose();
    throw new WeightsError(`${spec}: these are ${model.stream} weights, but the ${stream} stream needs ${stream} weights`);
  }
  return { model, ...(config?.labels ? { labels: config.labels } : {}) };
}

/** Only the video limits of some options (the rest is not loadClip's business). */
function limitsOf(o: Limits): Limits {
  const l: Limits = {};
  if (o.maxPixels !== undefined) l.maxPixels = o.maxPixels;
  if (o.maxDurationSec !== undefined) l.maxDurationSec = o.maxDurationSec;
  if (o.timeoutMs !== undefined) l.timeoutMs = o.timeoutMs;
  if (o.untrusted !== undefined) l.untrusted = o.untrusted;
  if (o.signal !== undefined) l.signal = o.signal;
  return l;
}

/** The flow clip of a video: TV-L1 on the whole video (cached), clipped and scaled as the official flow input. */
export async function readFlowInput(path: string, o: VideoInputOptions = {}): Promise<I3DClip> {
  const opts = { size: o.size ?? 224, resize: o.resize ?? 256, fps: o.fps ?? 25, crop: 'center' as const };
  let clip = await loadFlowClip(path, { ...opts, frames: 'all' });
  if (clip.shape[1]! < MIN_FRAMES) clip = await loadFlowClip(path, { ...opts, frames: MIN_FRAMES });
  return checkClip(clip.data, clip.shape, 'flow', path);
}

/**
 * How video files become clips: the official preprocessing (whole video at 25 fps, 256 then a 224 centre crop),
 * under the video limits (size, duration, time; `untrusted` for uploads; `signal` to cancel).
 */
export interface VideoInputOptions extends Limits {
  /** Crop side (default 224). */
  size?: number;
  /** Shorter side before the crop (default 256); false for frames that are already preprocessed (the sample GIF). */
  resize?: number | false;
  /** Frames per second (default 25). */
  fps?: number;
}

/**
 * An RGB clip from a file: a .npy clip as is, or a video decoded whole (a video of fewer than 8 frames is looped
 * up to 8, the fewest I3D takes).
 */
export async function readRgbInput(path: string, o: VideoInputOptions = {}): Promise<I3DClip> {
  if (!o.untrusted && path.toLowerCase().endsWith('.npy')) return readClipNpy(path, 'rgb');
  const opts = { size: o.size ?? 224, resize: o.resize ?? 256, fps: o.fps ?? 25, crop: 'center' as const, ...limitsOf(o) };
  let clip = await loadClip(path, { ...opts, frames: 'all' });
  if (clip.shape[1]! < MIN_FRAMES) clip = await loadClip(path, { ...opts, frames: MIN_FRAMES, totalFrames: clip.totalFrames });
  return checkClip(clip.data, clip.shape, 'rgb', path);
}

export async function labelsFor(classes: number, own: string[] | undefined, o: PredictOptions): Promise<string[] | undefined> {
  if (o.labels) return readLabels(o.labels);
  if (own) return own;
  if (classes !== 400) return undefined;
  try {
    return readLabels(await kinetics400LabelsFile(o));
  } catch (e) {
    o.warn?.(`${(e as Error).message}\nShowing class indices instead of names.`);
    return undefined;
  }
}

/** Flow of videos up to this many frames (30 s at 25 fps, about 150 MB at 224x224) is read whole from the flow cache. */
export const FLOW_CACHE_MAX_FRAMES = 750;

/** A clip in memory (a .npy clip, a short video looped to 8 frames) as a frame source. */
function clipSource(file: string, clip: I3DClip): FrameSource {
  const [, frames, height, width, channels] = clip.shape;
  const len = height * width * channels;
  const source = Array.from({ length: frames }, (_, i) => clip.data.subarray(i * len, (i + 1) * len));
  return { file, frames, height, width, source };
}

/** The frames of an input for a stream: a .npy clip, or a video streamed from the decoder (a short one looped). */
export async function frameSource(
  input: string,
  stream: Stream,
  o: PredictOptions,
  flowNpy?: string,
): Promise<FrameSource & { fps: number }> {
  const fps = o.fps ?? 25;
  if (stream === 'flow' && flowNpy) return { ...clipSource(flowNpy, readClipNpy(flowNpy, 'flow')), fps };
  if (!o.untrusted && input.toLowerCase().endsWith('.npy')) return { ...clipSource(input, readClipNpy(input, 'rgb')), fps };
  const s = await streamFrames(input, stream, {
    ...(o.size === undefined ? {} : { size: o.size }),
    ...(o.resize === undefined ? {} : { resize: o.resize }),
    fps,
    ...limitsOf(o),
  });
  const cached = stream === 'flow' && o.flowCache !== false && s.frames <= FLOW_CACHE_MAX_FRAMES;
  if (s.frames >= MIN_FRAMES && !cached) return { ...s, file: input };
  if (o.flowCache === false && stream === 'flow') {
    // Fewer than 8 flow frames and no cache (an upload): the streamed frames, looped up to 8.
    const frames: Float32Array[] = [];
    for await (const f of s.source) frames.push(f);
    if (frames.length === 0) throw new ClipError(`${input}: no flow frames (the video has a single frame)`);
    const looped = Array.from({ length: MIN_FRAMES }, (_, j) => frames[j % frames.length]!);
    return { file: input, frames: MIN_FRAMES, height: s.height, width: s.width, source: looped, fps };
  }
  // Too short for I3D: the whole-clip loaders loop it up to 8 frames. The flow of a short video goes through the flow
  // cache (whole); a longer one streams, computed again each time.
  await (s.source as AsyncGenerator<Float32Array>).return?.(undefined);
  const clip = stream === 'rgb' ? await readRgbInput(input, o) : await readFlowInput(input, o);
  return { ...clipSource(input, clip), fps };
}

/**
 * frameSource, already reading ahead (at most PREFETCH_BYTES of frames), so that decoding overlaps the model's work on
 * something else; close() stops it (its ffmpeg ends).
 */
export async function frameSourceAhead(
  input: string,
  stream: Stream,
  o: PredictOptions,
): Promise<FrameSource & { fps: number; close(): Promise<void> }> {
  const src = await frameSource(input, stream, o);
  const frameBytes = src.height * src.width * (stream === 'rgb' ? 3 : 2) * 4;
  const ahead = prefetch(src.source, Math.max(1, Math.floor(PREFETCH_BYTES / frameBytes)));
  return { ...src, source: ahead, close: () => ahead.close() };
}

/** Per-stream results of the streamed path: the logits and, with windows, each window's logits. */
interface StreamLogits {
  logits: number[];
  /** Mixed_5c's map averaged over time and space (of the first stream, when two are added). */
  features: number[];
  /** How many overlapping chunks the video ran in. */
  chunks: number;
  windows: { start: number; end: number; logits: number[] }[] | null;
}

/** One stream's logits (and windows) of an input, streamed through `runner` in chunks. */
export async function streamLogits(
  runner: Pick<ClipRunner, 'model' | 'streamed'>,
  input: string,
  o: PredictOptions,
  flowNpy?: string,
  prepared?: FrameSource & { fps: number },
): Promise<StreamLogits> {
  const stream = runner.model.stream;
  const src = prepared ?? (await frameSource(input, stream, o, flowNpy));
  const r = await runner.streamed(src, {
    ...(o.maxMemory === undefined ? {} : { maxMemory: o.maxMemory }),
    ...(o.onChunkProgress ? { onProgress: (p: ChunkProgress) => o.onChunkProgress!(stream, p) } : {}),
  });
  if (o.window === undefined) return { logits: [...r.logits!], features: [...r.features], chunks: r.chunks, windows: null };
  const win = Math.max(1, Math.round(o.window * src.fps));
  const step = Math.max(1, Math.round((o.stride ?? o.window) * src.fps));
  const windows = windowSpans(r.frames, win, step).map((span) => ({
    start: span.start / src.fps,
    end: span.end / src.fps,
    logits: [...windowLogits(r.stepLogits!, span, 8, r.steps)],
  }));
  return { logits: [...r.logits!], features: [...r.features], chunks: r.chunks, windows };
}

/** Adds two streams' logits and windows (the windows both streams have). */
export function addStreams(a: StreamLogits, b: StreamLogits): StreamLogits {
  const windows = a.windows && b.windows ? a.windows.slice(0, Math.min(a.windows.length, b.windows.length)) : null;
  return {
    logits: addLogits(a.logits, b.logits),
    features: a.features,
    chunks: a.chunks + b.chunks,
    windows: windows && windows.map((w, i) => ({ ...w, logits: addLogits(w.logits, b.windows![i]!.logits) })),
  };
}

/** Classifies a video or .npy clip with one stream, or two when a flow clip is given. */
export async function predict(input: string, o: PredictOptions = {}): Promise<PredictResult> {
  const npyInput = input.toLowerCase().endsWith('.npy');
  if (o.flowWeights && !o.flow && npyInput)
    throw new I3DError(
      'I3D_USAGE',
      '--flow-weights with a .npy clip needs --flow <flow clip .npy> (for a video, the flow is computed from it)',
    );
  if (o.window !== undefined && !(o.window > 0))
    throw new I3DError('I3D_INVALID_ARGUMENT', `--window must be a positive number of seconds, got ${o.window}`);
  if (o.stride !== undefined && !(o.stride > 0))
    throw new I3DError('I3D_INVALID_ARGUMENT', `--stride must be a positive number of seconds, got ${o.stride}`);
  const spec = o.weights ?? 'rgb_imagenet_and_kinetics';
  if (spec === RANDOM_WEIGHTS) o.warn?.('random weights: the classes below mean nothing (use --weights to load real ones)');
  const rgb = await loadClassifier(spec, 'rgb', o);
  let out: StreamLogits;
  let labels: string[] | undefined;
  const rgbRunner = new ClipRunner(rgb.model, o);
  try {
    out = await streamLogits(rgbRunner, input, o);
    labels = await labelsFor(rgb.model.classes, rgb.labels, o);
  } finally {
    rgbRunner.dispose();
  }
  const streams: Stream[] = ['rgb'];
  if (o.flow || o.flowWeights) {
    const flow = await loadClassifier(o.flowWeights ?? 'flow_imagenet_and_kinetics', 'flow', o);
    const flowRunner = new ClipRunner(flow.model, o);
    try {
      out = addStreams(out, await streamLogits(flowRunner, input, o, o.flow));
    } finally {
      flowRunner.dispose();
    }
    streams.push('flow');
  }
  const k = o.top ?? 5;
  return {
    ...topK(out.logits, k, labels),
    streams,
    ...(out.windows ? { windows: out.windows.map((w) => ({ ...topK(w.logits, k, labels), start: w.start, end: w.end })) } : {}),
  };
}
