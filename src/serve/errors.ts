// The service's error catalogue: every error a route can answer with has a code, an HTTP status and a message
// that names the input. Errors of the rest of the library (video, clip, fastify's own) are mapped onto it here.
import { ClipError } from '../inference/clip-input.js';
import { MemoryBudgetError } from '../inference/memory-budget.js';
import { VideoError, type VideoErrorCode } from '../video/errors.js';

export const CATALOGUE = {
  BAD_REQUEST: 400,
  BAD_JSON: 400,
  BAD_TENSOR: 400,
  EMPTY_UPLOAD: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  UNKNOWN_MODEL: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_A_VIDEO: 415,
  VIDEO_LIMIT: 422,
  QUEUE_FULL: 429,
  INTERNAL: 500,
  NOT_READY: 503,
  SHUTTING_DOWN: 503,
  TIMEOUT: 504,
  /** The client went away before the answer (nginx's 499; never reaches anyone, counted in metrics). */
  CLIENT_CLOSED: 499,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof CATALOGUE;

export class ServeError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds for the Retry-After header (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ServeError';
    this.status = CATALOGUE[code];
  }
}

const VIDEO_CODES: Record<VideoErrorCode, ErrorCode> = {
  NOT_FOUND: 'INTERNAL', // the upload is our own file: missing means a bug
  EMPTY: 'EMPTY_UPLOAD',
  UNREADABLE: 'NOT_A_VIDEO',
  NO_VIDEO_STREAM: 'NOT_A_VIDEO',
  NO_FRAMES: 'NOT_A_VIDEO',
  TRUNCATED: 'NOT_A_VIDEO',
  TOO_LARGE: 'VIDEO_LIMIT',
  TOO_SMALL: 'VIDEO_LIMIT',
  TOO_LONG: 'VIDEO_LIMIT',
  TIMEOUT: 'TIMEOUT',
  NO_FFMPEG: 'INTERNAL',
};

/** fastify's own error codes, for the ones a client can cause. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
};

/**
 * Any error as a catalogue error. `upload` is the temporary path of the request's file: it is replaced by
 * `name` in messages, so no server path reaches a client.
 */
export function toServeError(e: unknown, upload?: { path: string; name: string }): ServeError {
  if (e instanceof ServeError) return e;
  if (e instanceof VideoError) {
    // The message starts with the file; ffmpeg's own text may name it again.
    const msg = upload
      ? `${upload.name}: ${e.message
          .slice(e.file.length + 2)
          .split(`${upload.path}: `)
          .join('')
          .split(upload.path)
          .join(upload.name)}`
      : e.message;
    return new ServeError(VIDEO_CODES[e.code], msg);
  }
  if (e instanceof ClipError) return new ServeError('BAD_TENSOR', e.message);
  if (e instanceof MemoryBudgetError) {
    // This upload's frames do not fit the server's --max-memory (its options are named as they are; its path is not).
    return new ServeError('VIDEO_LIMIT', upload ? e.message.split(upload.path).join(upload.name) : e.message);
  }
  const err = e as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof err.code === 'string' && err.code in FASTIFY_CODES) return new ServeError(FASTIFY_CODES[err.code]!, String(err.message));
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    const code = (Object.keys(CATALOGUE) as ErrorCode[]).find((k) => CATALOGUE[k] === err.statusCode) ?? 'BAD_REQUEST';
    return new ServeError(code, String(err.message));
  }
  return new ServeError('INTERNAL', `internal error: ${e instanceof Error ? e.message : String(e)}`);
}
