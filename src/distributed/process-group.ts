// A process group over libtorch's c10d (native/dist.cc): rank 0 hosts the TCP store as PyTorch does (or torchrun's
// agent does), Gloo moves CPU tensors (NCCL in CUDA builds). Every collective runs off the JavaScript thread and
// returns a Promise; every wait has the group's time-out, and a failure rejects with a DistributedError that names
// the lost rank where the store's heartbeats can tell.
import { native } from '../native/binding.js';
import { op, opMany, opNone } from '../tensor/exec.js';
import { handleOf as h, tensor, type Tensor } from '../tensor/tensor.js';
import { scope } from '../tensor/context.js';
import { distConfig, type DistConfig } from './config.js';
import { DistributedError, fromNative } from './errors.js';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

const initOp = opNone((id: number, c: DistConfig, heartbeatMs: number) => [
  'distInit',
  id,
  c.rank,
  c.worldSize,
  c.masterAddr,
  c.masterPort,
  Math.round(c.timeoutSec * 1000),
  c.backend,
  c.ifname,
  c.agentStorePrefix,
  heartbeatMs,
]);
const destroyOp = opNone((id: number) => ['distDestroy', id]);
const allReduceOp = op((id: number, x: Tensor, o: ReduceOp) => ['distAllReduce', id, h('allReduce', 'x', x), o]);
const broadcastOp = opNone((id: number, x: Tensor, root: number) => ['distBroadcast', id, h('broadcast', 'x', x), root]);
const broadcastManyOp = opNone((id: number, xs: Tensor[], root: number) => [
  'distBroadcastMany',
  id,
  xs.map((x, i) => h('broadcastMany', `xs[${i}]`, x)),
  root,
]);
const allGatherOp = opMany((id: number, x: Tensor) => ['distAllGather', id, h('allGather', 'x', x)]);
const barrierOp = opNone((id: number) => ['distBarrier', id]);

let nextId = 1;

export interface ProcessGroupOptions extends Partial<DistConfig> {
  /** How often each rank writes its heartbeat into the store (default: 1 s, at most a twentieth of the time-out). */
  heartbeatMs?: number;
  env?: NodeJS.ProcessEnv;
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw fromNative(e);
  }
}

export class ProcessGroup {
  readonly #id: number;
  #destroyed = false;

  private constructor(
    id: number,
    readonly config: DistConfig,
  ) {
    this.#id = id;
  }

  get rank(): number {
    return this.config.rank;
  }
  get worldSize(): number {
    return this.config.worldSize;
  }

  /** Joins the group: connects to (or, on rank 0, hosts) the store, then the backend's full mesh. */
  static async init(o: ProcessGroupOptions = {}): Promise<ProcessGroup> {
    const c = distConfig(o, o.env ?? process.env);
    const backends = (native.distFacts as () => { backends: string[] })().backends;
    if (!backends.includes(c.backend))
      throw new DistributedError(
        'I3D_DIST_CONFIG',
        `backend '${c.backend}' is not in this build of the addon (it has: ${backends.join(', ')})`,
      );
    const hb = o.heartbeatMs ?? Math.max(50, Math.min(1000, Math.floor((c.timeoutSec * 1000) / 20)));
    const id = nextId++;
    await guard(initOp.async(id, c, hb));
    return new ProcessGroup(id, c);
  }

  #check(what: string): number {
    if (this.#destroyed) throw new DistributedError('I3D_DIST_CONFIG', `${what}: the process group was destroyed`);
    return this.#id;
  }

  /** The reduction of x over the ranks, as a new tensor (x is unchanged). 'avg' divides the sum by the world size. */
  allReduce(x: Tensor, reduce: ReduceOp = 'sum'): Promise<Tensor> {
    if (!['sum', 'avg', 'max', 'min'].includes(reduce))
      return Promise.reject(new RangeError(`allReduce: 'op' must be 'sum', 'avg', 'max' or 'min', got ${String(reduce)}`));
    return guard(allReduceOp.async(this.#check('allReduce'), x, reduce));
  }

  /** x takes the values of rank `root`'s x, in place. */
  broadcast(x: Tensor, root = 0): Promise<void> {
    return guard(broadcastOp.async(this.#check('broadcast'), x, this.#root('broadcast', root)));
  }

  /** Several tensors of any dtypes and shapes take rank `root`'s values, in one message. */
  broadcastMany(xs: Tensor[], root = 0): Promise<void> {
    return guard(broadcastManyOp.async(this.#check('broadcastMany'), xs, this.#root('broadcastMany', root)));
  }

  /** Every rank's x (same shape everywhere), in rank order. */
  allGather(x: Tensor): Promise<Tensor[]> {
    return guard(allGatherOp.async(this.#check('allGather'), x));
  }

  barrier(): Promise<void> {
    return guard(barrierOp.async(this.#check('barrier')));
  }

  /** Numbers reduced over the ranks (in float64). */
  async allReduceNumbers(values: readonly number[], reduce: ReduceOp = 'sum'): Promise<number[]> {
    return scope(async () => {
      const r = await this.allReduce(tensor(Float64Array.from(values), [values.length]), reduce);
      return Array.from(r.toArray());
    });
  }

  /** Every rank's numbers (any count per rank), in rank order. */
  async allGatherNumbers(values: readonly number[]): Promise<number[][]> {
    return scope(async () => {
      const counts = await this.allGather(tensor(Float64Array.of(values.length), [1]));
      const n = Math.max(...counts.map((c) => c.toArray()[0]!));
      const padded = new Float64Array(Math.max(1, n));
      padded.set(values);
      const all = await this.allGather(tensor(padded, [padded.length]));
      return all.map((t, r) => Array.from(t.toArray()).slice(0, counts[r]!.toArray()[0]!));
    });
  }

  /** Leaves the group (idempotent). */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await guard(destroyOp.async(this.#id));
  }

  /** For the other modules of src/distributed: the native id. */
  get nativeId(): number {
    return this.#check('process group');
  }

  #root(where: string, root: number): number {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize)
      throw new RangeError(`${where}: 'root' must be a rank in [0, ${this.worldSize}), got ${root}`);
    return root;
  }
}
