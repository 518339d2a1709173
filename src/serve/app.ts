// `i3d serve`: the HTTP service. Open Inference Protocol v2 routes (health, metadata, infer with JSON or binary
// tensors), a plain upload route (/v1/predict), Prometheus metrics and the web page. Models are loaded at start
// only; no route loads a model or reads a path or URL from a request. Uploads go to private temporary files that
// ffmpeg reads with the `file` protocol and single-file demuxers only.
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { addLogits, softmax, topK, type TopClass } from '../inference/classify.js';
import { checkClip, type I3DClip } from '../inference/clip-input.js';
import { addStreams, frameSource, frameSourceAhead, streamLogits } from '../inference/predict.js';
import { DEFAULT_MAX_MEMORY } from '../inference/memory-budget.js';
import { MIN_FRAMES, MIN_SIZE, type Stream } from '../models/i3d.js';
import type { EngineOptions } from '../inference/engine.js';
import { toServeError, ServeError } from './errors.js';
import { Metrics } from './metrics.js';
import { type ClipEngine, loadServedModel, type ModelSpec, type ServedModel } from './models.js';
import { encodeInferResponse, parseInferRequest, type InferInput, type OutputTensor } from './oip.js';
import { formatBytes, saveBytes, saveStream, tooLarge, UploadDir } from './upload.js';
import { I3DError } from '../core/errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
/** The web page's files, shipped in the package next to the compiled code (src/serve/page). */
const PAGE_DIR = new URL('../../../src/serve/page/', import.meta.url);
const PAGE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Frame rate of the model's input (the official I3D). */
const FPS = 25;
/** Bytes a multipart body may carry beyond its file (boundaries, headers, small fields). */
const MULTIPART_SLACK = 64 * 1024;
/** Bytes an OIP request may carry beyond the upload limit (its JSON header). */
const JSON_SLACK = 1 << 20;

export interface ServeOptions extends EngineOptions {
  models: readonly ModelSpec[];
  /**
   * Flow models paired with served RGB models of the same name (two-stream, as `i3d predict --flow-weights`): their
   * logits are added to the RGB model's, the flow computed from the video as it streams.
   */
  flowModels?: readonly ModelSpec[];
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Model instances per model (requests that run at once). */
  workers?: number;
  /** Requests that may wait per model beyond those running. */
  maxQueue?: number;
  maxUploadBytes?: number;
  /** Per-request time limit, seconds. */
  timeoutSec?: number;
  /** Video preprocessing: crop side and shorter side before it (the official 224 and 256). */
  size?: number;
  resize?: number;
  /** Video limits: longest duration (s) and largest frame (pixels). */
  maxDurationSec?: number;
  maxPixels?: number;
  /**
   * Bytes one request's whole-video inference may use (default DEFAULT_MAX_MEMORY, about 2 GB): uploads run in
   * overlapping chunks that fit, with the same result as one pass. Requests that run at once (`workers`) each use it.
   */
  maxMemory?: number;
  /** When set, every route but health and the page's static files needs `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Parent of the private upload folder (default: the OS temporary folder). */
  tmpDir?: string;
  /** Seconds in Retry-After when busy or not ready. */
  retryAfterSec?: number;
  warn?: (m: string) => void;
  log?: (m: string) => void;
}

export type ServerState = 'loading' | 'ready' | 'closing' | 'failed';

export interface I3DServer {
  readonly app: FastifyInstance;
  /** http://host:port */
  readonly url: string;
  readonly uploads: UploadDir;
  readonly metrics: Metrics;
  state(): ServerState;
  models(): readonly ServedModel[];
  /** Resolves when every model is loaded and warmed up (the server is ready); rejects when loading failed. */
  readonly loaded: Promise<void>;
  /** Readiness off, in-flight requests finish, then models and the upload folder are freed. Idempotent. */
  close(): Promise<void>;
}

interface RequestControl {
  signal: AbortSignal;
  dispose(): void;
}

/** A request's abort signal: its time limit, or the client closing the connection before the answer. */
function control(reply: FastifyReply, timeoutSec: number): RequestControl {
  const ctl = new AbortController();
  const timer = setTimeout(
    () => ctl.abort(new ServeError('TIMEOUT', `the request ran past the server's limit of ${timeoutSec} s and was stopped`)),
    timeoutSec * 1000,
  );
  const onClose = () => {
    if (!reply.raw.writableFinished) ctl.abort(new ServeError('CLIENT_CLOSED', 'the client closed the connection before the answer'));
  };
  reply.raw.on('close', onClose);
  return {
    signal: ctl.signal,
    dispose: () => {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    },
  };
}

/** `p`, or the signal's reason as soon as it aborts (the work behind `p` goes on; its slot frees when it ends). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

function positiveNumber(v: unknown, name: string, integer: boolean, max = Infinity): number | undefined {
  if (v === undefined || v === '') return undefined;
  const x = Number(v);
  if (!(x > 0) || x > max || (integer && !Number.isInteger(x)))
    throw new ServeError(
      'BAD_REQUEST',
      `'${name}' must be a positive ${integer ? 'integer' : 'number'}${max < Infinity ? ` up to ${max}` : ''}, got '${String(v)}'`,
    );
  return x;
}

function keyMatches(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(o: ServeOptions): Promise<I3DServer> {
  if (!o.models.length) throw new I3DError('I3D_USAGE', 'i3d serve: no model (give --model NAME=PATH at least once)');
  const names = new Set<string>();
  for (const m of o.models) {
    if (names.has(m.name)) throw new I3DError('I3D_USAGE', `i3d serve: two models are named '${m.name}' (name them: --model NAME=PATH)`);
    names.add(m.name);
  }
  const host = o.host ?? '127.0.0.1';
  const workers = o.workers ?? 1;
  const maxQueue = o.maxQueue ?? 8;
  const maxUpload = o.maxUploadBytes ?? 512 * (1 << 20);
  const timeoutSec = o.timeoutSec ?? 300;
  const size = o.size ?? 224;
  const resize = o.resize ?? 256;
  const retryAfter = o.retryAfterSec ?? 1;
  const maxMemory = o.maxMemory ?? DEFAULT_MAX_MEMORY;
  const log = o.log ?? (() => {});
  const videoLimits = {
    untrusted: true,
    timeoutMs: timeoutSec * 1000,
    ...(o.maxDurationSec !== undefined ? { maxDurationSec: o.maxDurationSec } : {}),
    ...(o.maxPixels !== undefined ? { maxPixels: o.maxPixels } : {}),
  };

  const uploads = await UploadDir.create(o.tmpDir);
  const served = new Map<string, ServedModel>();
  let state: ServerState = 'loading';
  /** Requests whose response has not closed yet. */
  let active = 0;
  const metrics = new Metrics(
    () => [...served.values()],
    () => state === 'ready',
  );
  const page = Object.fromEntries(Object.keys(PAGE_FILES).map((f) => [f, readFileSync(new URL(f, PAGE_DIR))]));

  const app = Fastify({
    logger: false,
    bodyLimit: maxUpload + JSON_SLACK,
    return503OnClosing: false, // our own 503, with Retry-After and the error JSON
    forceCloseConnections: 'idle',
  });

  const sendError = (reply: FastifyReply, e: ServeError) => {
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    return reply.code(e.status).type('application/json; charset=utf-8').send({ error: e.message, code: e.code });
  };

  app.setErrorHandler((err, request, reply) => {
    const e = toServeError(err);
    if (e.code === 'PAYLOAD_TOO_LARGE') metrics.rejected.inc({ model: modelLabel(request), reason: 'too_large' });
    if (e.code === 'INTERNAL') log(`error: ${e.message}`);
    return sendError(reply, e);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ServeError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  const modelLabel = (request: FastifyRequest): string => {
    const p = request.params as { name?: string } | undefined;
    const q = request.query as { model?: string } | undefined;
    const n = p?.name ?? q?.model ?? (served.size === 1 ? [...served.keys()][0] : undefined);
    return n && served.has(n) ? n : 'none';
  };

  const notReady = (): ServeError =>
    state === 'closing'
      ? new ServeError('SHUTTING_DOWN', 'the server is shutting down', retryAfter)
      : new ServeError(
          'NOT_READY',
          state === 'failed' ? 'the server failed to load its models' : 'the server is loading its models',
          retryAfter,
        );

  const requireModel = (name: string | undefined): ServedModel => {
    if (state !== 'ready') throw notReady();
    if (!name) {
      if (served.size === 1) return [...served.values()][0]!;
      throw new ServeError('BAD_REQUEST', `several models are served: name one with ?model= (${[...served.keys()].join(', ')})`);
    }
    const m = served.get(name);
    if (!m) throw new ServeError('UNKNOWN_MODEL', `no model named '${name}' (served: ${[...served.keys()].join(', ')})`);
    return m;
  };

  // Hooks: 503 while closing (also for requests on kept-alive connections), the key, early 413 by Content-Length.
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    (request as { t0?: number }).t0 = performance.now();
    active++;
    reply.raw.once('close', () => active--);
    if (state === 'closing' && !path.startsWith('/v2/health')) {
      metrics.rejected.inc({ model: 'none', reason: 'shutting_down' });
      void reply.header('connection', 'close');
      throw notReady();
    }
    if (o.apiKey && !path.startsWith('/v2/health') && !(request.method === 'GET' && (path === '/' || path.startsWith('/page/')))) {
      const h = request.headers.authorization ?? '';
      const given = h.startsWith('Bearer ') ? h.slice(7) : String(request.headers['x-api-key'] ?? '');
      if (!keyMatches(given, o.apiKey))
        throw new ServeError('UNAUTHORIZED', 'this server needs its API key: send Authorization: Bearer <key>');
    }
    const len = request.headers['content-length'];
    if (len !== undefined && request.method === 'POST') {
      const limit = path === '/v1/predict' ? maxUpload + MULTIPART_SLACK : maxUpload + JSON_SLACK;
      if (Number(len) > limit) throw tooLarge(limit, `the request body (${formatBytes(Number(len))})`);
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    const t0 = (request as { t0?: number }).t0;
    if (t0 !== undefined) metrics.requestSeconds.observe({ route }, (performance.now() - t0) / 1000);
    // A body we stopped reading (413, errors before the upload ended): drain it for a moment, then drop the
    // connection; no byte of it is kept.
    if (!request.raw.complete) {
      request.raw.resume();
      setTimeout(() => request.raw.socket?.destroy(), 2000).unref();
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // A body we stopped reading, or a server closing: this connection ends with this answer (a kept-alive
    // connection would otherwise hold the close back for the keep-alive time-out).
    if (!request.raw.complete || state === 'closing') void reply.header('connection', 'close');
    return payload;
  });

  // --- Open Inference Protocol v2 ---
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => {
    if (state !== 'ready') return sendError(reply, notReady());
    return { ready: true };
  });
  app.get('/v2', async () => ({ name: 'i3d', version: pkg.version, extensions: ['binary_tensor_data'] }));
  const metadata = (m: ServedModel) => ({
    name: m.name,
    versions: ['1'],
    platform: 'i3d_libtorch',
    inputs: [
      { name: 'clip', datatype: 'FP32', shape: [-1, -1, -1, -1, m.stream === 'rgb' ? 3 : 2] },
      ...(m.flowEngines ? [{ name: 'flow', datatype: 'FP32', shape: [-1, -1, -1, -1, 2] }] : []),
      ...(m.stream === 'rgb' ? [{ name: 'video', datatype: 'BYTES', shape: [1] }] : []),
    ],
    outputs: [
      { name: 'logits', datatype: 'FP32', shape: [-1, m.classes] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, m.classes] },
      { name: 'features', datatype: 'FP32', shape: [-1, m.featureChannels] },
    ],
    parameters: { labels: m.labels, preprocessing: { fps: FPS, resizeShorterSide: resize, crop: size, range: [-1, 1] } },
  });
  app.get<{ Params: { name: string } }>('/v2/models/:name', async (request) => metadata(requireModel(request.params.name)));
  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version', async (request) =>
    metadata(requireModel(request.params.name)),
  );
  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', async (request) => {
    const m = requireModel(request.params.name);
    return { name: m.name, ready: true };
  });

  /** Runs clips [1, T, H, W, C] on a slot of the model; timings go to the metrics. */
  const runClips = async (m: ServedModel, clips: readonly I3DClip[], signal: AbortSignal, flowClips?: readonly I3DClip[]) => {
    const run = m.scheduler.run(signal, async (lease) => {
      metrics.queueWaitSeconds.observe({ model: m.name }, lease.waitSec);
      const t0 = performance.now();
      const out: { logits: number[]; features: number[] }[] = [];
      const flowEngine = flowPartner(m, lease.runner);
      for (const [i, c] of clips.entries()) {
        signal.throwIfAborted();
        const r = await lease.runner.outputs(c);
        // Two-stream: the flow clip's logits are added (the features stay the RGB stream's).
        if (flowEngine && flowClips) r.logits = addLogits(r.logits, (await flowEngine.outputs(flowClips[i]!)).logits);
        out.push(r);
      }
      const modelSec = (performance.now() - t0) / 1000;
      metrics.modelSeconds.observe({ model: m.name }, modelSec);
      return { out, queueSec: lease.waitSec, modelSec };
    });
    run.catch(() => {}); // when raceAbort answers first, the run's own end is not awaited
    return raceAbort(run, signal);
  };

  /** The flow instance that runs with this RGB instance (two-stream models), else null. */
  const flowPartner = (m: ServedModel, runner: ClipEngine): ClipEngine | null =>
    m.flowEngines ? m.flowEngines[m.engines.indexOf(runner)]! : null;

  /**
   * A video file (an upload) through the model, streamed as `i3d predict` does: overlapping chunks under the memory
   * budget (the result of one pass), so a long upload never sits whole in memory. Its frames are counted and the
   * first ones decoded before a model slot is taken (PREFETCH_BYTES), so decoding overlaps other requests' runs.
   */
  const runUpload = async (
    m: ServedModel,
    path: string,
    name: string,
    signal: AbortSignal,
    windows: { window?: number | undefined; stride?: number | undefined } = {},
  ) => {
    const t1 = performance.now();
    const opts = { size, resize, fps: FPS, ...videoLimits, signal, maxMemory, ...windows };
    let src: Awaited<ReturnType<typeof frameSourceAhead>>;
    try {
      src = await frameSourceAhead(path, 'rgb', opts);
    } catch (e) {
      throw toServeError(e, { path, name });
    }
    const decodeSec = (performance.now() - t1) / 1000;
    metrics.decodeSeconds.observe({ model: m.name }, decodeSec);
    let queueSec = 0;
    let modelSec = 0;
    try {
      const run = m.scheduler.run(signal, async (lease) => {
        metrics.queueWaitSeconds.observe({ model: m.name }, lease.waitSec);
        queueSec = lease.waitSec;
        const t2 = performance.now();
        try {
          const rgb = await streamLogits(lease.runner, path, opts, undefined, src);
          const flowEngine = flowPartner(m, lease.runner);
          if (!flowEngine) return rgb;
          // Two-stream: the upload's TV-L1 flow, computed as it streams (never cached), through the flow partner.
          const flowOpts = { ...opts, flowCache: false };
          const flow = await streamLogits(flowEngine, path, flowOpts, undefined, await frameSource(path, 'flow', flowOpts));
          return addStreams(rgb, flow);
        } finally {
          modelSec = (performance.now() - t2) / 1000;
          metrics.modelSeconds.observe({ model: m.name }, modelSec);
        }
      });
      run.catch(() => {}); // when raceAbort answers first, the run's own end is not awaited
      const result = await raceAbort(run, signal);
      return { ...result, frames: src.frames, decodeSec, queueSec, modelSec };
    } catch (e) {
      throw e instanceof ServeError ? e : toServeError(e, { path, name });
    } finally {
      await src.close();
    }
  };

  const OUTPUTS = ['logits', 'probabilities', 'features'] as const;

  const clipsFromTensor = (m: ServedModel, input: InferInput, stream: Stream = m.stream): I3DClip[] => {
    const name = input.name;
    if (input.datatype !== 'FP32') throw new ServeError('BAD_TENSOR', `input '${name}' must be FP32, got ${input.datatype}`);
    const [B, T, H, W, C] = input.shape;
    const channels = stream === 'rgb' ? 3 : 2;
    if (input.shape.length !== 5 || C !== channels || !B)
      throw new ServeError(
        'BAD_TENSOR',
        `input '${name}' has shape [${input.shape.join(', ')}]; model '${m.name}' takes [batch >= 1, frames >= ${MIN_FRAMES}, height >= ${MIN_SIZE}, width >= ${MIN_SIZE}, ${channels}]`,
      );
    const data = input.data as Float32Array;
    const per = T! * H! * W! * C;
    return Array.from({ length: B }, (_, b) =>
      checkClip(data.subarray(b * per, (b + 1) * per), [1, T!, H!, W!, C], stream, `input '${name}' [${b}]`),
    );
  };

  app.register(async (oip) => {
    oip.removeAllContentTypeParsers();
    oip.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxUpload + JSON_SLACK }, (_request, body, done) => done(null, body));
    oip.post<{ Params: { name: string } }>('/v2/models/:name/infer', async (request, reply) => {
      const m = requireModel(request.params.name);
      const admitted = admit(m);
      const ctl = control(reply, timeoutSec);
      let upload: string | undefined;
      try {
        const t0 = performance.now();
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const hl = request.headers['inference-header-content-length'];
        const req = parseInferRequest(body, hl === undefined ? undefined : Number(hl));
        const takes = m.flowEngines ? `'clip' and 'flow' (FP32), or 'video' (BYTES)` : `'clip' (FP32) or 'video' (BYTES)`;
        for (const i of req.inputs)
          if (i.name !== 'clip' && i.name !== 'video' && !(i.name === 'flow' && m.flowEngines))
            throw new ServeError('BAD_TENSOR', `unknown input '${i.name}'; model '${m.name}' takes ${takes}`);
        const clipIn = req.inputs.find((i) => i.name === 'clip');
        const flowIn = req.inputs.find((i) => i.name === 'flow');
        const videoIn = req.inputs.find((i) => i.name === 'video');
        const oneSet = videoIn
          ? req.inputs.length === 1
          : m.flowEngines
            ? !!clipIn && !!flowIn && req.inputs.length === 2
            : req.inputs.length === 1;
        if (!oneSet) throw new ServeError('BAD_TENSOR', `give ${takes}`);
        const wanted = req.outputs ?? [
          { name: 'logits', binary: req.binaryOutput },
          { name: 'probabilities', binary: req.binaryOutput },
        ];
        for (const w of wanted)
          if (!(OUTPUTS as readonly string[]).includes(w.name))
            throw new ServeError('BAD_TENSOR', `unknown output '${w.name}'; model '${m.name}' gives ${OUTPUTS.join(', ')}`);
        let out: { logits: number[]; features: number[] }[];
        if (clipIn) {
          const clips = clipsFromTensor(m, clipIn);
          const flowClips = flowIn ? clipsFromTensor(m, flowIn, 'flow') : undefined;
          if (flowClips && flowClips.length !== clips.length)
            throw new ServeError(
              'BAD_TENSOR',
              `inputs 'clip' and 'flow' must have the same batch (${clips.length} and ${flowClips.length})`,
            );
          metrics.decodeSeconds.observe({ model: m.name }, (performance.now() - t0) / 1000);
          out = (await runClips(m, clips, ctl.signal, flowClips)).out;
        } else {
          const v = videoIn!;
          if (m.stream !== 'rgb') throw new ServeError('BAD_TENSOR', `model '${m.name}' is a flow model: give a 'clip' of flow`);
          if (v.datatype !== 'BYTES' || v.shape.length !== 1 || v.shape[0] !== 1)
            throw new ServeError('BAD_TENSOR', `input 'video' must be BYTES of shape [1] (one encoded video file)`);
          upload = uploads.newPath();
          await saveBytes((v.data as Buffer[])[0]!, upload);
          out = [await runUpload(m, upload, `input 'video'`, ctl.signal)];
        }
        const B = out.length;
        const tensors: OutputTensor[] = wanted.map((w) => {
          const n = w.name === 'features' ? m.featureChannels : m.classes;
          const data = new Float32Array(B * n);
          out.forEach((r, b) => data.set(w.name === 'logits' ? r.logits : w.name === 'features' ? r.features : softmax(r.logits), b * n));
          return { name: w.name, shape: [B, n], data, binary: w.binary };
        });
        const res = encodeInferResponse(m.name, req.id, tensors);
        return reply.headers(res.headers).send(res.body);
      } finally {
        ctl.dispose();
        admitted();
        if (upload) await uploads.removeFile(upload);
      }
    });
  });

  const admit = (m: ServedModel): (() => void) => {
    try {
      return m.scheduler.admit(m.name);
    } catch (e) {
      metrics.rejected.inc({ model: m.name, reason: 'queue_full' });
      throw e;
    }
  };

  // --- Plain upload: /v1/predict ---
  interface PredictQuery {
    model?: string;
    top?: string;
    window?: string;
    stride?: string;
  }
  app.register(async (plain) => {
    plain.removeAllContentTypeParsers();
    // Raw uploads stay a stream (request.body is the request itself); it is copied to disk under the limit.
    plain.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    plain.addContentTypeParser(/^video\//, (_request, payload, done) => done(null, payload));
    await plain.register(multipart, { limits: { fileSize: maxUpload, files: 1, fields: 8, parts: 10 }, throwFileSizeLimit: false });
    plain.post<{ Querystring: PredictQuery }>('/v1/predict', async (request, reply) => {
      const m = requireModel(request.query.model);
      const top = positiveNumber(request.query.top, 'top', true, m.classes) ?? Math.min(5, m.classes);
      const window = positiveNumber(request.query.window, 'window', false, 3600);
      const stride = positiveNumber(request.query.stride, 'stride', false, 3600) ?? window;
      if (stride !== undefined && window === undefined) throw new ServeError('BAD_REQUEST', `'stride' needs 'window'`);
      if (m.stream !== 'rgb') throw new ServeError('BAD_REQUEST', `model '${m.name}' is a flow model: videos go to RGB models`);
      const admitted = admit(m);
      const ctl = control(reply, timeoutSec);
      const upload = uploads.newPath();
      let name = 'the upload';
      try {
        const t0 = performance.now();
        if (request.isMultipart()) {
          const part = await request.file();
          if (!part || part.fieldname !== 'video')
            throw new ServeError(
              'BAD_REQUEST',
              `the multipart body needs a file field named 'video'${part ? ` (got '${part.fieldname}')` : ''}`,
            );
          if (part.filename) name = `'${part.filename.replace(/[^\w .,()-]/g, '_').slice(0, 100)}'`;
          await saveStream(part.file, upload, maxUpload, ctl.signal);
          if (part.file.truncated) throw tooLarge(maxUpload);
        } else if (request.body && typeof (request.body as Readable).pipe === 'function')
          await saveStream(request.body as Readable, upload, maxUpload, ctl.signal);
        else
          throw new ServeError(
            'UNSUPPORTED_MEDIA_TYPE',
            `send the video as the body (Content-Type video/* or application/octet-stream) or as multipart/form-data with a file field 'video'`,
          );
        const uploadSec = (performance.now() - t0) / 1000;
        const result = await runUpload(m, upload, name, ctl.signal, { window, stride });
        const { decodeSec, queueSec, modelSec } = result;
        const topOf = (logits: number[]): TopClass[] => topK(logits, top, m.labels).top;
        return {
          model: m.name,
          top: topOf(result.logits),
          ...(result.windows
            ? { windows: result.windows.slice(0, 1000).map((w) => ({ start: w.start, end: w.end, top: topOf(w.logits) })) }
            : {}),
          durationSec: result.frames / FPS,
          chunks: result.chunks,
          timings: { uploadSec, decodeSec, queueSec, modelSec, totalSec: (performance.now() - t0) / 1000 },
        };
      } finally {
        ctl.dispose();
        admitted();
        await uploads.removeFile(upload);
      }
    });
  });

  app.get('/v1/models', async () => {
    if (state !== 'ready') throw notReady();
    return {
      models: [...served.values()].map((m) => ({ name: m.name, stream: m.stream, classes: m.classes })),
      maxUploadBytes: maxUpload,
    };
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  const sendPage = (file: string, reply: FastifyReply) =>
    reply
      .type(PAGE_FILES[file]!)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(page[file]);
  app.get('/', async (_request, reply) => sendPage('index.html', reply));
  app.get<{ Params: { file: string } }>('/page/:file', async (request, reply) => {
    const f = request.params.file;
    if (f === 'index.html' || !Object.hasOwn(PAGE_FILES, f)) throw new ServeError('NOT_FOUND', `no page file '${f}'`);
    return sendPage(f, reply);
  });

  await app.listen({ host, port: o.port ?? 8080 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8080);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const loaded = (async () => {
    for (const spec of o.models) {
      const m = await loadServedModel(
        spec,
        {
          workers,
          maxQueue,
          warmupSize: size,
          ...(o.precision ? { precision: o.precision } : {}),
          ...(o.engine ? { engine: o.engine } : {}),
          ...(o.warn ? { warn: o.warn } : {}),
        },
        o.flowModels?.find((f) => f.name === spec.name),
      );
      served.set(m.name, m);
      metrics.modelLoadSeconds.set({ model: m.name }, m.loadSec);
      const flow = o.flowModels?.find((f) => f.name === spec.name);
      log(
        `model '${m.name}' (${spec.source}${flow ? ` + flow ${flow.source}: two-stream` : ''}, ${m.stream}, ${m.classes} classes) ` +
          `loaded and warmed up in ${m.loadSec.toFixed(1)} s`,
      );
    }
    if (state === 'loading') state = 'ready';
  })();
  loaded.catch(() => {
    if (state === 'loading') state = 'failed';
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      state = 'closing';
      const closed = app.close(); // stops accepting; waits for the requests in flight
      // Connections kept alive after their last answer would hold the close back until their time-out.
      while (active > 0) await new Promise((r) => setTimeout(r, 20));
      app.server.closeAllConnections();
      await closed;
      // Runs a timed-out request left behind finish before their model is freed.
      for (let i = 0; i < 600 && [...served.values()].some((m) => m.scheduler.running > 0); i++)
        await new Promise((r) => setTimeout(r, 100));
      await loaded.catch(() => {});
      for (const m of served.values()) for (const e of m.engines) e.dispose();
      served.clear();
      await uploads.close();
    })());

  return { app, url, uploads, metrics, state: () => state, models: () => [...served.values()], loaded, close };
}
