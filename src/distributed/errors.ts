// Errors of distributed runs: catalogue errors (src/core/errors.ts) whose message names the rank, the setting or the
// variable at fault. I3D_DIST_CONFIG exits 2 (usage), the time-out and a lost peer 5 (resources).
import { I3DError } from '../core/errors.js';

export type DistributedErrorCode =
  /** A bad or missing setting: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, --nproc, a backend this build lacks. */
  | 'I3D_DIST_CONFIG'
  /** A collective or the rendezvous did not complete within --dist-timeout, every peer still alive. */
  | 'I3D_DIST_TIMEOUT'
  /** A rank died or stopped (no heartbeat), or the store hosted by rank 0 is gone. */
  | 'I3D_DIST_PEER_LOST';

export class DistributedError extends I3DError {
  declare readonly code: DistributedErrorCode;
  constructor(code: DistributedErrorCode, message: string) {
    super(code, message);
    this.name = 'DistributedError';
  }
}

const CODES: readonly DistributedErrorCode[] = ['I3D_DIST_CONFIG', 'I3D_DIST_TIMEOUT', 'I3D_DIST_PEER_LOST'];

/** The addon prefixes its messages with a code ("I3D_DIST_PEER_LOST: ..."): a DistributedError of that code. */
export function fromNative(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const m = /^(I3D_DIST_[A-Z_]+): /.exec(e.message);
  const code = m && CODES.find((c) => c === m[1]);
  if (!code) return e;
  return new DistributedError(code, e.message.slice(m[0].length));
}
