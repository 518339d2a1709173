// The error catalogue: every error a user can meet has a stable code, a message that names the input and the
// problem, an HTTP status (the service) and an exit code (the CLI). The README's table is made from ERRORS.
//
// Exit codes: 2 usage (a bad option or argument), 3 bad input file (video, dataset, npy, parameters), 4 bad model or
// weights, 5 resource limits and time-outs (memory budget, locks, peers lost), 1 anything else.
//
// The library's codes start with I3D_; the service's (the `code` of its JSON error answers) keep the names its HTTP
// API published. Each subclass (VideoError, WeightsError...) keeps its name for `instanceof`; all are I3DErrors.

export type ErrorKind = 'usage' | 'input' | 'model' | 'resource' | 'internal';

export const EXIT_CODES: Record<ErrorKind, number> = { usage: 2, input: 3, model: 4, resource: 5, internal: 1 };

interface Entry {
  kind: ErrorKind;
  /** HTTP status where the service can meet it. */
  http: number;
  /** One line for the README's table. */
  doc: string;
}

const e = (kind: ErrorKind, http: number, doc: string): Entry => ({ kind, http, doc });

export const ERRORS = {
  // usage
  I3D_INVALID_ARGUMENT: e('usage', 400, 'an argument or option has a wrong type or value'),
  I3D_USAGE: e('usage', 400, 'a command line that cannot run as given (options that do not go together, a missing one)'),
  I3D_INPUT_NOT_FOUND: e('input', 404, 'a file or folder named as input does not exist or is not of the kind expected'),
  // video input (video/errors.ts: VideoError)
  I3D_VIDEO_NOT_FOUND: e('input', 404, 'the video file does not exist or cannot be opened'),
  I3D_VIDEO_EMPTY: e('input', 400, 'the video file has 0 bytes'),
  I3D_VIDEO_UNREADABLE: e('input', 415, 'ffmpeg cannot read the file (not a video, unknown container or codec, corrupt)'),
  I3D_VIDEO_NO_VIDEO_STREAM: e('input', 415, 'the file has no video stream (audio only, subtitles...)'),
  I3D_VIDEO_NO_FRAMES: e('input', 415, 'the video stream decodes to no frames (or too few for optical flow)'),
  I3D_VIDEO_TRUNCATED: e('input', 415, 'the file was cut short (partial file, missing index)'),
  I3D_VIDEO_TOO_SMALL: e('input', 422, 'the frames are smaller than the crop while resizing is off'),
  I3D_VIDEO_TOO_LARGE: e('resource', 422, 'width x height above the pixel limit'),
  I3D_VIDEO_TOO_LONG: e('resource', 422, 'duration above the limit'),
  I3D_VIDEO_TIMEOUT: e('resource', 504, 'ffmpeg ran past the time limit and was killed'),
  I3D_VIDEO_NO_FFMPEG: e('internal', 500, 'ffmpeg or ffprobe is not installed or does not start'),
  // other input files
  I3D_BAD_CLIP: e('input', 400, 'a clip (.npy or tensor) has the wrong shape, channels or value range for its stream'),
  I3D_BAD_NPY: e('input', 400, 'a .npy file cannot be read or written (not .npy, unsupported dtype, truncated)'),
  I3D_BAD_DATASET: e('input', 400, 'a dataset folder, split or class index is missing or malformed'),
  I3D_BAD_PARAMS: e('input', 400, 'a parameters file (JSON, YAML) is missing, does not parse or holds a wrong value'),
  I3D_BAD_FEATURE_CACHE: e('input', 400, 'a feature cache folder does not read back (not one, or a file is missing)'),
  I3D_BAD_RUN_FOLDER: e('input', 400, 'a training output folder lacks what is asked of it (log, classes, a checkpoint)'),
  // model and weights
  I3D_BAD_WEIGHTS: e('model', 500, 'a weights file, checkpoint or model folder is missing, corrupt or does not fit the model'),
  I3D_BAD_MODEL: e('model', 500, 'a model cannot do what is asked (no logits layer, classes that differ between models or labels)'),
  I3D_DOWNLOAD: e('model', 502, 'a weights download failed (network, HTTP status, checksum); run again to resume'),
  // inference and training
  I3D_MEMORY_BUDGET: e('resource', 422, 'whole-video inference does not fit --max-memory (or ran out of memory)'),
  I3D_UNSUPPORTED: e('usage', 400, 'this build, engine or CPU cannot do what was asked (e.g. bf16 without the fused engine)'),
  I3D_NON_FINITE_LOSS: e('internal', 500, 'training diverged (loss NaN or infinite); the checkpoints before it are kept'),
  // storage (core/storage.ts)
  I3D_LOCKED: e('resource', 409, 'another process holds the lock of an output folder or cache entry'),
  I3D_DISK: e('resource', 507, 'a write failed (disk full, read-only, permissions); what was saved before is intact'),
  I3D_CACHE_CORRUPT: e('input', 500, 'a cache entry does not read back (it is recomputed)'),
  // storage: reading (core/hash.ts)
  I3D_FILE_UNREADABLE: e('input', 400, 'a file to read or hash is missing or cannot be read'),
  // worker pools (data layer)
  I3D_WORKER_CRASHED: e('internal', 500, 'a worker thread died; its task failed and the worker was replaced'),
  I3D_POOL_CLOSED: e('internal', 503, 'a worker pool was closed while tasks were pending; they did not run to the end'),
  // distributed training (distributed/)
  I3D_DIST_CONFIG: e('usage', 400, 'the RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT environment or options are wrong'),
  I3D_DIST_TIMEOUT: e('resource', 504, 'a collective did not complete within --dist-timeout'),
  I3D_DIST_PEER_LOST: e('resource', 503, 'a rank died or stopped answering'),
  // service (serve/): the codes of the HTTP API's JSON answers, published without the I3D_ prefix
  BAD_REQUEST: e('usage', 400, 'the request is malformed (a field, a query parameter, a header)'),
  BAD_JSON: e('input', 400, 'the JSON body does not parse or is empty'),
  BAD_TENSOR: e('input', 400, 'a posted clip tensor has the wrong shape, dtype, channels or value range'),
  EMPTY_UPLOAD: e('input', 400, 'the uploaded video has 0 bytes'),
  UNAUTHORIZED: e('usage', 401, 'a missing or wrong bearer token'),
  NOT_FOUND: e('usage', 404, 'no such route or page'),
  UNKNOWN_MODEL: e('usage', 404, 'no model of that name is loaded'),
  METHOD_NOT_ALLOWED: e('usage', 405, 'the route does not take this HTTP method'),
  PAYLOAD_TOO_LARGE: e('resource', 413, 'the body or upload is above the size limit'),
  UNSUPPORTED_MEDIA_TYPE: e('input', 415, 'a content type the route does not take'),
  NOT_A_VIDEO: e('input', 415, 'the upload is not a readable video (no video stream, no frames, cut short, corrupt)'),
  VIDEO_LIMIT: e('resource', 422, 'the upload is above a limit (pixels, duration, --max-memory) or smaller than the crop'),
  QUEUE_FULL: e('resource', 429, 'the request queue is full: retry after Retry-After seconds'),
  NOT_READY: e('resource', 503, 'the models are still loading'),
  SHUTTING_DOWN: e('resource', 503, 'the server is stopping and takes no new requests'),
  TIMEOUT: e('resource', 504, "the request ran past the server's time limit and was stopped"),
  CLIENT_CLOSED: e('usage', 499, 'the client went away before the answer (never sent; counted in metrics)'),
  INTERNAL: e('internal', 500, 'an unexpected error in the service (logged)'),
  // anything else
  I3D_INTERNAL: e('internal', 500, 'a bug: please report it with the message'),
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERRORS;

/** The base of every error the library throws on purpose. */
export class I3DError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'I3DError';
    this.code = code;
  }

  get kind(): ErrorKind {
    return ERRORS[this.code].kind;
  }

  /** The CLI's exit status for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** The service's HTTP status for this error. */
  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
}

/** Whether a string is a code of the catalogue (e.g. one carried across a worker thread). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/**
 * The class of one catalogue code, for errors that callers catch by class:
 * `export class WeightsError extends errorClass('WeightsError', 'I3D_BAD_WEIGHTS') {}`.
 */
export function errorClass<C extends ErrorCode>(name: string, code: C) {
  return class extends I3DError {
    declare readonly code: C;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
      this.name = name;
    }
  };
}

/** The exit status for anything thrown: the catalogue's for an I3DError, 1 otherwise. */
export function exitCodeOf(err: unknown): number {
  return err instanceof I3DError ? err.exitCode : EXIT_CODES.internal;
}
