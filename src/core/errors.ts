// The error catalogue: every error a user can meet has a stable code, a message that names the input and the
// problem, an HTTP status (the service) and an exit code (the CLI). The README's table is made from ERRORS.
//
// Exit codes: 2 usage (a bad option or argument), 3 bad input file (video, dataset, npy, parameters), 4 bad model or
// weights, 5 resource limits and time-outs (memory budget, locks, peers lost), 1 anything else.

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
  I3D_USAGE: e('usage', 400, 'a command line that cannot run as given'),
  // storage (core/storage.ts)
  I3D_LOCKED: e('resource', 409, 'another process holds the lock of an output folder or cache entry'),
  I3D_DISK: e('resource', 507, 'a write failed (disk full, read-only, permissions); what was saved before is intact'),
  I3D_CACHE_CORRUPT: e('input', 500, 'a cache entry does not read back (it is recomputed)'),
  // worker pools (data layer)
  I3D_WORKER_CRASHED: e('internal', 500, 'a worker thread died; its task failed and the worker was replaced'),
  // distributed training (distributed/)
  I3D_DIST_CONFIG: e('usage', 400, 'the RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT environment or options are wrong'),
  I3D_DIST_TIMEOUT: e('resource', 504, 'a collective did not complete within --dist-timeout'),
  I3D_DIST_PEER_LOST: e('resource', 503, 'a rank died or stopped answering'),
  // inference engines (inference/engine.ts)
  I3D_ENGINE_UNSUPPORTED: e('usage', 400, 'the engine or precision asked for cannot run this model on this CPU (the reason is named)'),
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

/** The exit status for anything thrown: the catalogue's for an I3DError, 1 otherwise. */
export function exitCodeOf(err: unknown): number {
  return err instanceof I3DError ? err.exitCode : EXIT_CODES.internal;
}
