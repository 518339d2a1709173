// The service's errors: every error a route can answer with has a code of the one catalogue (core/errors.ts: the
// service's block, whose codes keep the names the HTTP API published), an HTTP status and a message that names the
// input. Errors of the rest of the library (video, clip, memory budget, fastify's own) are mapped onto them here.
import { ERRORS, I3DError, type ErrorCode } from '../core/errors.js';
import { VideoError, type VideoErrorCode } from '../video/errors.js';

/** The codes of the service's JSON error answers. */
export const SERVE_CODES = [
  'BAD_REQUEST',
  'BAD_JSON',
  'BAD_TENSOR',
  'EMPTY_UPLOAD',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'UNKNOWN_MODEL',
  'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_A_VIDEO',
  'VIDEO_LIMIT',
  'QUEUE_FULL',
  'INTERNAL',
  'NOT_READY',
  'SHUTTING_DOWN',
  'TIMEOUT',
  'CLIENT_CLOSED',
] as const satisfies readonly ErrorCode[];

export type ServeCode = (typeof SERVE_CODES)[number];

/** Each service code's HTTP status, from the catalogue. */
export const CATALOGUE = Object.fromEntries(SERVE_CODES.map((c) => [c, ERRORS[c].http])) as Record<ServeCode, number>;

export class ServeError extends I3DError {
  declare readonly code: ServeCode;
  readonly status: number;
  constructor(
    code: ServeCode,
    message: string,
    /** Seconds for the Retry-After header (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(code, message);
    this.name = 'ServeError';
    this.status = this.httpStatus;
  }
}

/** Every video problem has an answer (a Record: the compiler checks that none is left out). */
const VIDEO_CODES: Record<VideoErrorCode, ServeCode> = {
  I3D_VIDEO_NOT_FOUND: 'INTERNAL', // the upload is our own file: missing means a bug
  I3D_VIDEO_EMPTY: 'EMPTY_UPLOAD',
  I3D_VIDEO_UNREADABLE: 'NOT_A_VIDEO',
  I3D_VIDEO_NO_VIDEO_STREAM: 'NOT_A_VIDEO',
  I3D_VIDEO_NO_FRAMES: 'NOT_A_VIDEO',
  I3D_VIDEO_TRUNCATED: 'NOT_A_VIDEO',
  I3D_VIDEO_TOO_LARGE: 'VIDEO_LIMIT',
  I3D_VIDEO_TOO_SMALL: 'VIDEO_LIMIT',
  I3D_VIDEO_TOO_LONG: 'VIDEO_LIMIT',
  I3D_VIDEO_TIMEOUT: 'TIMEOUT',
  I3D_VIDEO_NO_FFMPEG: 'INTERNAL', // the server's install
};

/**
 * The service's answer to a library error a request can cause, by its catalogue code (any other error is INTERNAL).
 * A library code's HTTP status in the catalogue is that of its service code here (a test checks it), except the two
 * that are the server's fault.
 */
export const LIBRARY_CODES: Partial<Record<ErrorCode, ServeCode>> = {
  ...VIDEO_CODES,
  I3D_BAD_CLIP: 'BAD_TENSOR',
  // This upload's frames do not fit the server's --max-memory.
  I3D_MEMORY_BUDGET: 'VIDEO_LIMIT',
};

/** fastify's own error codes, for the ones a client can cause. */
const FASTIFY_CODES: Record<string, ServeCode> = {
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
  const code = e instanceof I3DError ? LIBRARY_CODES[e.code] : undefined;
  if (code && e instanceof I3DError) {
    let msg = e.message;
    // A video's message starts with the file; ffmpeg's own text may name it again.
    if (upload && e instanceof VideoError)
      msg = `${upload.name}: ${msg
        .slice(e.file.length + 2)
        .split(`${upload.path}: `)
        .join('')}`;
    // No server path reaches a client (a memory budget names the options as they are, not the path).
    if (upload) msg = msg.split(upload.path).join(upload.name);
    return new ServeError(code, msg);
  }
  const err = e as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof err.code === 'string' && err.code in FASTIFY_CODES) return new ServeError(FASTIFY_CODES[err.code]!, String(err.message));
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    const byStatus = SERVE_CODES.find((k) => CATALOGUE[k] === err.statusCode) ?? 'BAD_REQUEST';
    return new ServeError(byStatus, String(err.message));
  }
  return new ServeError('INTERNAL', `internal error: ${e instanceof Error ? e.message : String(e)}`);
}
