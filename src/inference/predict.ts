// `i3d predict` as a library call: weights by zoo name or path (or random), an RGB clip, optionally a flow clip
// and flow weights (two-stream: the streams' logits are added), labels, top-k.
import { I3D, type Stream } from '../models/i3d.js';
import { loadAny } from '../weights/convert.js';
import { readLabels } from '../weights/labels.js';
import { kinetics400LabelsFile, resolveWeights, type FetchOptions } from '../weights/zoo.js';
import { WeightsError } from '../weights/errors.js';
import { addLogits, topK, type Prediction } from './classify.js';
import { ClipRunner, type InferenceOptions } from './clip-runner.js';
import { checkClip, readClipNpy, type I3DClip } from './clip-input.js';
import { loadClip } from '../video/clip.js';
import type { Limits } from '../video/probe.js';
import { loadClip as loadFlowClip } from '../video/flow-clip.js';
import { MIN_FRAMES } from '../models/i3d.js';

/** `random` stands for random weights (to try the pipeline without a download; the classes mean nothing). */
export const RANDOM_WEIGHTS = 'random';

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
}

export interface PredictResult extends Prediction {
  /** The stream(s) whose logits were added. */
  streams: Stream[];
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

/** Classifies a video or .npy clip with one stream, or two when a flow clip is given. */
export async function predict(input: string, o: PredictOptions = {}): Promise<PredictResult> {
  const npyInput = input.toLowerCase().endsWith('.npy');
  if (o.flowWeights && !o.flow && npyInput)
    throw new Error('--flow-weights with a .npy clip needs --flow <flow clip .npy> (for a video, the flow is computed from it)');
  const rgbClip = await readRgbInput(input, o);
  const flowClip = o.flow ? readClipNpy(o.flow, 'flow') : o.flowWeights ? await readFlowInput(input, o) : null;
  const spec = o.weights ?? 'rgb_imagenet_and_kinetics';
  if (spec === RANDOM_WEIGHTS) o.warn?.('random weights: the classes below mean nothing (use --weights to load real ones)');
  const rgb = await loadClassifier(spec, 'rgb', o);
  let logits: number[];
  let labels: string[] | undefined;
  const rgbRunner = new ClipRunner(rgb.model, o);
  try {
    logits = await rgbRunner.logits(rgbClip);
    labels = await labelsFor(rgb.model.classes, rgb.labels, o);
  } finally {
    rgbRunner.dispose();
  }
  const streams: Stream[] = ['rgb'];
  if (flowClip) {
    const flow = await loadClassifier(o.flowWeights ?? 'flow_imagenet_and_kinetics', 'flow', o);
    const flowRunner = new ClipRunner(flow.model, o);
    try {
      logits = addLogits(logits, await flowRunner.logits(flowClip));
    } finally {
      flowRunner.dispose();
    }
    streams.push('flow');
  }
  return { ...topK(logits, o.top ?? 5, labels), streams };
}
