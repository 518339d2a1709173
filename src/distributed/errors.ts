// Errors of distributed runs. Each has a code (to be folded into the project's error catalogue) and a message that
// names the rank, the setting or the variable at fault.

export type DistributedErrorCode =
  /** A bad or missing setting: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, --nproc, a backend this build lacks. */
  | 'I3D_DIST_CONFIG'
  /** A collective or the rendezvous did not complete within --dist-timeout, every peer still alive. */
  | 'I3D_DIST_TIMEOUT'
  /** A rank died or stopped (no heartbeat), or the store hosted by rank 0 is gone. */
  | 'I3D_DIST_PEER_LOST';

export class DistributedError extends Error {
  override readonly name = 'DistributedError';
  constructor(
    readonly code: DistributedErrorCode,
    message: string,
  ) {
    super(message);
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
