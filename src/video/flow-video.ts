// The flow stream's input for a whole video: decoded RGB frames -> gray -> TV-L1 between consecutive frames (pairs in
// parallel) -> centre crop -> cached on disk -> clipped to [-20, 20] and divided by 20: [1, N, crop, crop, 2].
// The decoder is passed in (any source of RGB frames: the ffmpeg decoder of src/video/decode.ts, a test's frames).
import { cachedFlow, type FlowArray } from './flow-cache.js';
import {
  centerCropFlow,
  flowFacts,
  flowSequence,
  flowToClip,
  FLOW_BOUND,
  resolveFlowImpl,
  rgbToGray,
  tvl1Params,
  type FlowClip,
  type FlowImpl,
  type FlowImplOptions,
  type GrayFrame,
  type Tvl1Params,
} from './flow.js';
import { fail, int } from '../tensor/validate.js';

/** An 8-bit RGB frame, rows top to bottom (what the decoder yields). */
export interface RgbFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface FramesToFlowOptions extends FlowImplOptions {
  params?: Partial<Tvl1Params>;
  /** Centre crop of each flow field (computed on the whole frame first, as the official pipeline); 0: no crop. */
  crop?: number;
  /** Frame pairs in flight at once; default: the number of cores. */
  concurrency?: number;
}

/** TV-L1 between each frame and the next, centre-cropped: raw flow in pixels, [N, H, W, 2] for N + 1 frames. */
export async function framesToFlow(
  frames: Iterable<RgbFrame> | AsyncIterable<RgbFrame>,
  opts: FramesToFlowOptions = {},
): Promise<FlowArray> {
  const crop = int('framesToFlow', 'crop', opts.crop ?? 0, 0);
  const dims = { w: 0, h: 0 }; // of the first frame
  let index = 0;
  async function* gray(): AsyncGenerator<GrayFrame> {
    for await (const f of frames) {
      if (index === 0) {
        Object.assign(dims, { w: f.width, h: f.height });
        if (crop > Math.min(f.width, f.height))
          fail('framesToFlow', 'crop', `at most the frames' shorter side (${Math.min(f.width, f.height)})`, crop);
      } else if (f.width !== dims.w || f.height !== dims.h) {
        fail('framesToFlow', `frames[${index}]`, `${dims.w}x${dims.h} like the first frame`, `${f.width}x${f.height}`);
      }
      yield rgbToGray(f.data, f.width, f.height);
      index++;
    }
  }
  // The first frame tells the size flowSequence needs.
  const source = gray();
  const first = await source.next();
  if (first.done) fail('framesToFlow', 'frames', 'at least 2 frames', 'none');
  const { w, h } = dims;
  async function* all(): AsyncGenerator<GrayFrame> {
    yield first.value as GrayFrame;
    yield* source;
  }
  const fields: Float32Array[] = [];
  const seqOpts = {
    params: opts.params ?? {},
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    ...(opts.impl === undefined ? {} : { impl: opts.impl }),
    ...(opts.isa === undefined ? {} : { isa: opts.isa }),
  };
  for await (const f of flowSequence(all(), w, h, seqOpts)) fields.push(crop ? centerCropFlow(f, w, h, crop) : f);
  if (fields.length === 0) fail('framesToFlow', 'frames', 'at least 2 frames', '1 frame');
  const [ow, oh] = crop ? [crop, crop] : [w, h];
  const data = new Float32Array(fields.length * ow * oh * 2);
  fields.forEach((f, i) => data.set(f, i * f.length));
  return { data, shape: [fields.length, oh, ow, 2] };
}

/** Bumped when our TV-L1 (native/tvl1.cc) changes its results: part of the flow cache key. */
const OURS_VERSION = 1;

/**
 * What the flow cache key records about the flow method: OpenCV's TV-L1 and OpenCV's version, or ours and its
 * version (default: $I3D_FLOW_IMPL, else DEFAULT_FLOW_IMPL). The ISA is not part of it: it changes rounding only.
 */
export function flowImplementation(impl?: FlowImpl): string {
  return resolveFlowImpl(impl, 'flowImplementation') === 'ours'
    ? `i3d-tvl1 ${OURS_VERSION}`
    : `opencv-dualtvl1 ${flowFacts().opencvVersion}`;
}

export interface VideoFlowOptions extends FramesToFlowOptions {
  /** How frames are sampled (fps, resize, frame limit...): part of the cache key, passed to `decode`. */
  sampling: Record<string, string | number | boolean | null>;
  /** Clip bound (official: 20). */
  bound?: number;
  /** The cache folder; default flowCacheDir() ($I3D_CACHE_DIR/flow, $XDG_CACHE_HOME/i3d/flow, ~/.cache/i3d/flow). */
  cacheDir?: string;
  /** false: neither read nor write the cache (default true). */
  cache?: boolean;
}

export interface VideoFlow {
  /** Raw flow in pixels, [N, H, W, 2] (what the cache holds; for visualisation). */
  flow: FlowArray;
  /** The flow stream's input: [1, N, H, W, 2] in [-1, 1], channels (x, y). */
  clip: FlowClip;
  /** Read from the cache (nothing decoded or computed). */
  cached: boolean;
  /** null when the cache was not used. */
  cacheFile: string | null;
}

/**
 * The flow clip of a video file: from the disk cache (keyed by the file's sha256, the TV-L1 parameters, the crop
 * and `sampling`) or computed from `decode(video)`'s frames and then cached.
 */
export async function videoFlow(video: string, decode: () => AsyncIterable<RgbFrame>, opts: VideoFlowOptions): Promise<VideoFlow> {
  const params = tvl1Params(opts.params ?? {}, 'videoFlow');
  const crop = int('videoFlow', 'crop', opts.crop ?? 0, 0);
  const impl = resolveFlowImpl(opts.impl, 'videoFlow');
  const compute = () =>
    framesToFlow(decode(), {
      params,
      crop,
      impl,
      ...(opts.isa === undefined ? {} : { isa: opts.isa }),
      ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    });
  const r =
    opts.cache === false
      ? { ...(await compute()), cached: false, file: null }
      : await cachedFlow(
          video,
          {
            implementation: flowImplementation(impl),
            params: { ...params, crop },
            sampling: opts.sampling,
            ...(opts.cacheDir === undefined ? {} : { dir: opts.cacheDir }),
          },
          compute,
        );
  const [n, h, w] = r.shape as [number, number, number, number];
  const fields = Array.from({ length: n }, (_, i) => r.data.subarray(i * h * w * 2, (i + 1) * h * w * 2));
  return {
    flow: { data: r.data, shape: r.shape },
    clip: flowToClip(fields, w, h, opts.bound ?? FLOW_BOUND),
    cached: r.cached,
    cacheFile: r.file,
  };
}
