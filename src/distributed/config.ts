// Where a rank learns its place: the environment that torchrun and Kubeflow's PyTorchJob set (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and torchrun's TORCHELASTIC_* for its agent's store), or
// explicit options. Every problem names the variable or option and the accepted values.
import { availableParallelism } from 'node:os';
import { DistributedError } from './errors.js';

export type Backend = 'gloo' | 'nccl';

export interface DistConfig {
  rank: number;
  worldSize: number;
  /** The rank among the processes of this machine, and how many there are (threads per rank follow them). */
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: Backend;
  /** Every collective and the rendezvous give up after this many seconds (--dist-timeout). */
  timeoutSec: number;
  /** GLOO_SOCKET_IFNAME: the network interfaces Gloo uses (default: the one the hostname resolves to). */
  ifname: string;
  /** Under torchrun's static rendezvous its agent hosts the store: every rank is a client under this prefix. */
  agentStorePrefix: string;
}

export const DEFAULT_DIST_TIMEOUT_SEC = 300;

function int(name: string, raw: string | number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (raw === undefined || raw === '' || !Number.isInteger(n) || n < min || n > max)
    throw new DistributedError('I3D_DIST_CONFIG', `${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw ?? null)}`);
  return n;
}

/** True when the environment describes more than one rank (WORLD_SIZE > 1). */
export function isDistributedEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== '' && Number(env.WORLD_SIZE) > 1;
}

/** The configuration of this rank from the environment, with options taking precedence. */
export function distConfig(o: Partial<DistConfig> = {}, env: NodeJS.ProcessEnv = process.env): DistConfig {
  const worldSize = int('WORLD_SIZE', o.worldSize ?? env.WORLD_SIZE, 1);
  const rank = int('RANK', o.rank ?? env.RANK, 0, worldSize - 1);
  const localWorldSize = int('LOCAL_WORLD_SIZE', o.localWorldSize ?? env.LOCAL_WORLD_SIZE ?? 1, 1);
  const localRank = int('LOCAL_RANK', o.localRank ?? env.LOCAL_RANK ?? 0, 0, localWorldSize - 1);
  const masterAddr = o.masterAddr ?? env.MASTER_ADDR ?? '';
  if (!masterAddr) throw new DistributedError('I3D_DIST_CONFIG', 'MASTER_ADDR must name the host of rank 0 (e.g. 127.0.0.1), got nothing');
  const masterPort = int('MASTER_PORT', o.masterPort ?? env.MASTER_PORT, 1, 65535);
  const backend = o.backend ?? env.I3D_DIST_BACKEND ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl')
    throw new DistributedError('I3D_DIST_CONFIG', `the backend must be 'gloo' or 'nccl', got '${backend}'`);
  const timeoutSec = o.timeoutSec ?? DEFAULT_DIST_TIMEOUT_SEC;
  if (!(typeof timeoutSec === 'number' && Number.isFinite(timeoutSec) && timeoutSec > 0))
    throw new DistributedError('I3D_DIST_CONFIG', `--dist-timeout must be a positive number of seconds, got ${timeoutSec}`);
  const agent = env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    masterAddr,
    masterPort,
    backend,
    timeoutSec,
    ifname: o.ifname ?? env.GLOO_SOCKET_IFNAME ?? '',
    agentStorePrefix: o.agentStorePrefix ?? (agent ? `/worker/attempt_${env.TORCHELASTIC_RESTART_COUNT ?? '0'}` : ''),
  };
}

/** Threads per rank when none are asked for: the cores shared by the ranks of this machine. */
export function threadsPerRank(localWorldSize: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / localWorldSize));
}
