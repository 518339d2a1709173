// One rank of the multi-process tests in distributed.test.ts (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set by
// the test). Prints one JSON line with what it saw. Modes: collectives | ddp-bn | ddp-bn-sync | die | stop.
import { Unit3d } from '../src/models/i3d.js';
import { BatchNorm3d, Conv3d } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { manualSeed, setNumThreads } from '../src/tensor/runtime.js';
import { scope } from '../src/tensor/context.js';
import * as ops from '../src/tensor/ops.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { ProcessGroup } from '../src/distributed/process-group.js';
import { broadcastModule, convertSyncBatchNorm, GradientSync } from '../src/distributed/ddp.js';

setNumThreads(1);
const mode = process.argv[2] ?? 'collectives';

class Net extends Module {
  readonly conv = this.child('conv', new Conv3d(2, 3, 1));
  readonly bn = this.child('bn', new BatchNorm3d(3, { momentum: 0.3 }));
  // An I3D unit: conv, batch norm without scale (its own code path), ReLU.
  readonly unit = this.child('unit', new Unit3d('Conv3d_test', 3, 4, [1, 3, 3], [1, 1, 1], 0.3));
  forward(x: Tensor): Tensor {
    return this.unit.forward(this.bn.forward(this.conv.forward(x)));
  }
}

// Largest difference relative to the reference's largest value (at least 1e-4: a conv bias before batch norm has
// a gradient of about zero).
const maxRel = (a: Tensor, b: Tensor): number => scope(() => a.sub(b).abs().max().item() / Math.max(1e-4, b.abs().max().item()));

async function main(): Promise<Record<string, unknown>> {
  const pg = await ProcessGroup.init({ timeoutSec: Number(process.env.TIMEOUT ?? 20), heartbeatMs: 200 });
  const r = pg.rank;
  try {
    if (mode === 'collectives') {
      const sum = await pg.allReduce(tensor([r + 1, 2 * r], [2]), 'sum');
      const avg = await pg.allReduce(tensor([r + 1, 2 * r], [2]), 'avg');
      const max = await pg.allReduce(tensor([r + 1, -r], [2]), 'max');
      const b = tensor([10 * r, 10 * r + 1, 10 * r + 2], [3]);
      await pg.broadcast(b, 1);
      const g = await pg.allGather(tensor([r, r * r], [2]));
      // Collectives in flight together: matched in the order they were called, on every rank.
      const together = await scope(() =>
        Promise.all(
          [1, 2, 3, 4, 5, 6].map(async (k) => (await pg.allReduce(ops.full([k * 1000 + 1], k + r), 'sum')).sum().item() / (k * 1000 + 1)),
        ),
      );
      const numbers = await pg.allGatherNumbers(Array.from({ length: r + 2 }, (_, i) => r * 100 + i));
      await pg.barrier();
      let destroyedError = '';
      await pg.destroy();
      try {
        await pg.barrier();
      } catch (e) {
        destroyedError = (e as Error).message;
      }
      return {
        sum: sum.toArray(),
        avg: avg.toArray(),
        max: max.toArray(),
        broadcast: b.toArray(),
        gather: g.map((t) => t.toArray()),
        numbers,
        together,
        destroyedError,
      };
    }
    if (mode === 'die' || mode === 'stop') {
      await pg.barrier();
      if (r === 1) process.kill(process.pid, mode === 'die' ? 'SIGKILL' : 'SIGSTOP');
      const from = Date.now();
      try {
        await pg.allReduce(tensor([1], [1]));
        return { error: null };
      } catch (e) {
        return { error: (e as Error).message, code: (e as { code?: string }).code, ms: Date.now() - from };
      }
    }
    // ddp-bn(-sync): a global batch of 4, 2 per rank, through conv + batch norm in training mode; gradients and
    // running statistics against one process on the whole batch.
    manualSeed(7);
    const x = ops.randn([4, 2, 2, 3, 3]);
    const c = ops.randn([4, 4, 2, 3, 3]);
    manualSeed(100); // rank 0's seed below
    const ref = new Net();
    ref.train();
    scope(() => ref.forward(x).mul(c).mean().backward());
    manualSeed(100 + r); // different initial weights on each rank: the broadcast must make them rank 0's
    const net = new Net();
    net.train();
    await broadcastModule(pg, net);
    const initial = maxRel(net.conv.weight, ref.conv.weight);
    if (mode === 'ddp-bn-sync') convertSyncBatchNorm(pg, net);
    const sync = new GradientSync(pg, net.parameters(), 16);
    const half = x.narrow(0, 2 * r, 2);
    await scope(async () => {
      sync.prepare();
      net
        .forward(half)
        .mul(c.narrow(0, 2 * r, 2))
        .mean()
        .backward();
      await sync.finish();
    });
    const grads: Record<string, number> = {};
    const refs = new Map(ref.namedParameters());
    for (const [name, p] of net.namedParameters()) grads[name] = maxRel(p.grad!, refs.get(name)!.grad!);
    sync.close();
    return {
      buckets: sync.buckets,
      initial,
      grads,
      runningMean: Math.max(maxRel(net.bn.runningMean, ref.bn.runningMean), maxRel(net.unit.runningMean, ref.unit.runningMean)),
      runningVar: Math.max(maxRel(net.bn.runningVar, ref.bn.runningVar), maxRel(net.unit.runningVar, ref.unit.runningVar)),
    };
  } finally {
    await pg.destroy();
  }
}

main().then(
  (out) => {
    console.log(JSON.stringify({ rank: Number(process.env.RANK), ...out }));
    process.exit(0);
  },
  (e: unknown) => {
    console.error(`rank ${process.env.RANK}: ${(e as Error).stack}`);
    process.exit(1);
  },
);
