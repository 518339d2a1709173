// bench/distributed: data-parallel training on this machine. (1) Time per global step of an I3D-LSTM training step
// (forward, cross-entropy, backward, gradient all-reduce, SGD) for 1 rank x T threads x batch G against N ranks x
// T/N threads x batch G/N, with per-rank batch norm and with SyncBatchNorm (Gloo over loopback, the gradient
// all-reduce bucketed and started from the autograd hooks as DDP does). (2) All-reduce time and bandwidth, 2 ranks,
// for the gradient size of the full I3D-LSTM (width 1, LSTM 512/256, 101 classes), in one message and in DDP's 25 MB
// buckets. Every configuration runs in fresh child processes (this script with --worker).
// Usage: node dist/bench/distributed.js [--steps 5] [--warmup 1] [--width 0.25] [--frames 16] [--size 112]
//        [--segments 2] [--batch 2] [--threads 2] [--ranks 2] [--rounds 3] [--reduce-runs 5] [--json]
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  F,
  freePort,
  convertSyncBatchNorm,
  GradientSync,
  I3D,
  I3DLSTM,
  manualSeed,
  ops,
  ProcessGroup,
  scope,
  setNumThreads,
  SGD,
  tensor,
  broadcastModule,
} from '../src/index.js';
import { log, median, positive } from './common.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    width: { type: 'string', default: '0.25' },
    frames: { type: 'string', default: '16' },
    size: { type: 'string', default: '112' },
    segments: { type: 'string', default: '2' },
    batch: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    ranks: { type: 'string', default: '2' },
    'reduce-runs': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    worker: { type: 'string' },
  },
});

interface StepConfig {
  kind: 'step';
  width: number;
  frames: number;
  size: number;
  segments: number;
  batch: number;
  threads: number;
  steps: number;
  warmup: number;
  /** SyncBatchNorm in every Unit3d (with ranks only). */
  syncBn?: boolean;
}
interface ReduceConfig {
  kind: 'reduce';
  bytes: number;
  runs: number;
}

async function stepWorker(c: StepConfig): Promise<unknown> {
  setNumThreads(c.threads);
  const dist = process.env.WORLD_SIZE ? await ProcessGroup.init({ timeoutSec: 600 }) : null;
  manualSeed(1);
  const backbone = new I3D({ stream: 'rgb', includeTop: false, width: c.width });
  const model = new I3DLSTM({ classes: 101, backbone, lstm: [512, 256], dropout: 0 });
  const params = model.parameters();
  const opt = new SGD(params, { lr: 1e-3, momentum: 0.9 });
  const sync = dist ? new GradientSync(dist, params) : null;
  if (dist) await broadcastModule(dist, model);
  if (dist && c.syncBn) convertSyncBatchNorm(dist, model);
  const clips = ops.randn([c.batch, c.segments, c.frames, c.size, c.size, 3]).keep();
  const labels = tensor(
    BigInt64Array.from({ length: c.batch }, (_, i) => BigInt(i % 101)),
    [c.batch],
  ).keep();
  const times: number[] = [];
  const waits: number[] = [];
  for (let s = 0; s < c.warmup + c.steps; s++) {
    await dist?.barrier();
    const from = performance.now();
    let waited = 0;
    await scope(async () => {
      model.train();
      opt.zeroGrad();
      sync?.prepare();
      F.crossEntropy(model.forward(clips), labels).backward();
      const w = performance.now();
      await sync?.finish();
      waited = performance.now() - w;
      opt.step();
    });
    if (s >= c.warmup) {
      times.push(performance.now() - from);
      waits.push(waited);
    }
  }
  const grads = params.reduce((n, p) => n + p.numel, 0);
  await dist?.destroy();
  return { ms: median(times), waitMs: median(waits), params: grads, buckets: sync?.buckets ?? 0 };
}

async function reduceWorker(c: ReduceConfig): Promise<unknown> {
  setNumThreads(1);
  const pg = await ProcessGroup.init({ timeoutSec: 600 });
  const n = Math.floor(c.bytes / 4);
  const whole = ops.randn([n]).keep();
  const bucket = 25 * 2 ** 20;
  const pieces = Math.ceil(c.bytes / bucket);
  const parts = Array.from({ length: pieces }, (_, i) =>
    whole.narrow(0, i * (bucket / 4), Math.min(bucket / 4, n - i * (bucket / 4))).keep(),
  );
  const one: number[] = [];
  const bucketed: number[] = [];
  for (let r = 0; r < c.runs + 1; r++) {
    await pg.barrier();
    let from = performance.now();
    await scope(() => pg.allReduce(whole));
    const a = performance.now() - from;
    await pg.barrier();
    from = performance.now();
    await scope(() => Promise.all(parts.map((p) => pg.allReduce(p))));
    const b = performance.now() - from;
    if (r > 0) {
      one.push(a);
      bucketed.push(b);
    }
  }
  // Latency of a small collective, as SyncBatchNorm issues one per layer in forward and in backward (a layer of 64
  // channels: 129 floats): 200 back to back, after a barrier.
  const small = ops.randn([129]).keep();
  await pg.barrier();
  const from = performance.now();
  for (let i = 0; i < 200; i++) await scope(() => pg.allReduce(small));
  const smallUs = ((performance.now() - from) / 200) * 1000;
  await pg.destroy();
  return { oneMs: median(one), bucketedMs: median(bucketed), buckets: pieces, smallUs };
}

async function spawnRanks(ranks: number, cfg: StepConfig | ReduceConfig): Promise<Record<string, number>[]> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const runs = Array.from(
    { length: ranks },
    (_, rank) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const env: NodeJS.ProcessEnv = { ...process.env };
        if (ranks > 1)
          Object.assign(env, {
            RANK: String(rank),
            WORLD_SIZE: String(ranks),
            LOCAL_RANK: String(rank),
            LOCAL_WORLD_SIZE: String(ranks),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
          });
        const p = spawn(process.execPath, [script, '--worker', JSON.stringify(cfg)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('close', (code) =>
          code === 0
            ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>)
            : reject(new Error(`rank ${rank} exited with ${code}`)),
        );
      }),
  );
  return Promise.all(runs);
}

async function main(): Promise<void> {
  if (values.worker) {
    const cfg = JSON.parse(values.worker) as StepConfig | ReduceConfig;
    console.log(JSON.stringify(cfg.kind === 'step' ? await stepWorker(cfg) : await reduceWorker(cfg)));
    return;
  }
  const ranks = positive('--ranks', values.ranks);
  const threads = positive('--threads', values.threads);
  const batch = positive('--batch', values.batch);
  if (batch % ranks !== 0) throw new Error(`--batch ${batch} must divide by --ranks ${ranks}`);
  const base = {
    kind: 'step' as const,
    width: Number(values.width),
    frames: positive('--frames', values.frames),
    size: positive('--size', values.size),
    segments: positive('--segments', values.segments),
    steps: positive('--steps', values.steps),
    warmup: positive('--warmup', values.warmup, 0),
  };
  log(
    `CPU: ${cpus()[0]?.model} x ${cpus().length}; ${new Date().toISOString()}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  log(`step: I3D-LSTM width ${base.width}, ${base.segments} x ${base.frames} x ${base.size}^2 clips, global batch ${batch}`);
  // Rounds in rotating order; each row is the median over the rounds (the machine may be shared).
  const perRank = { ...base, batch: batch / ranks, threads: Math.max(1, Math.floor(threads / ranks)) };
  const configs = [
    () => spawnRanks(1, { ...base, batch, threads }),
    () => spawnRanks(1, { ...base, batch, threads: 1 }),
    () => spawnRanks(ranks, perRank),
    () => spawnRanks(ranks, { ...perRank, syncBn: true }),
  ];
  const runs: Record<string, number>[][][] = configs.map(() => []);
  const rounds = positive('--rounds', values.rounds);
  const n = configs.length;
  for (let r = 0; r < rounds; r++) for (let k = 0; k < n; k++) runs[(k + r) % n]!.push(await configs[(k + r) % n]!());
  const med = (k: number, f: (x: Record<string, number>[]) => number) => median(runs[k]!.map(f));
  const single = { ms: med(0, (x) => x[0]!.ms!) };
  const singleOne = { ms: med(1, (x) => x[0]!.ms!) };
  const multiMs = med(2, (x) => Math.max(...x.map((m) => m.ms!)));
  const multiWait = med(2, (x) => median(x.map((m) => m.waitMs!)));
  const multi = runs[2]![0]!;
  const syncMs = med(3, (x) => Math.max(...x.map((m) => m.ms!)));
  const syncWait = med(3, (x) => median(x.map((m) => m.waitMs!)));
  // Gradient size of the full I3D-LSTM (width 1, LSTM 512/256, 101 classes): counted, not assumed.
  const full = (() => {
    manualSeed(1);
    const m = new I3DLSTM({ classes: 101, backbone: new I3D({ stream: 'rgb', includeTop: false, width: 1 }), lstm: [512, 256] });
    const n = m.parameters().reduce((s, p) => s + p.numel, 0);
    m.dispose();
    return n;
  })();
  const bytes = full * 4;
  const reduce = (await spawnRanks(2, { kind: 'reduce', bytes, runs: positive('--reduce-runs', values['reduce-runs']) }))[0]!;
  const gb = (ms: number) => bytes / (ms / 1000) / 1e9;
  const rows = {
    step: [
      { config: `1 rank x ${threads} threads x batch ${batch}`, msPerGlobalStep: single.ms!, allReduceWaitMs: 0 },
      { config: `1 rank x 1 thread x batch ${batch} (reference)`, msPerGlobalStep: singleOne.ms!, allReduceWaitMs: 0 },
      {
        config: `${ranks} ranks x ${Math.max(1, Math.floor(threads / ranks))} thread(s) x batch ${batch / ranks}`,
        msPerGlobalStep: multiMs,
        allReduceWaitMs: multiWait,
        buckets: multi[0]!.buckets,
        gradientMB: (multi[0]!.params! * 4) / 2 ** 20,
      },
      {
        config: `${ranks} ranks x ${Math.max(1, Math.floor(threads / ranks))} thread(s) x batch ${batch / ranks}, SyncBatchNorm`,
        msPerGlobalStep: syncMs,
        allReduceWaitMs: syncWait,
      },
    ],
    allReduce: {
      params: full,
      mb: bytes / 2 ** 20,
      oneMessageMs: reduce.oneMs!,
      bucketedMs: reduce.bucketedMs!,
      buckets: reduce.buckets!,
      algoGBps: gb(reduce.oneMs!),
      busGBps: gb(reduce.oneMs!), // ring all-reduce on 2 ranks: bus bandwidth = 2(n-1)/n x algorithm bandwidth = 1x
      smallUs: reduce.smallUs!,
    },
  };
  if (values.json) {
    console.log(JSON.stringify(rows));
    return;
  }
  console.log('\n| configuration | ms per global step | waiting for the gradient all-reduce after backward (ms) |');
  console.log('| --- | ---: | ---: |');
  for (const r of rows.step) console.log(`| ${r.config} | ${r.msPerGlobalStep.toFixed(0)} | ${r.allReduceWaitMs.toFixed(1)} |`);
  const a = rows.allReduce;
  console.log(`\nstep model gradient: ${rows.step[2]!.gradientMB?.toFixed(1)} MB in ${rows.step[2]!.buckets} bucket(s)`);
  console.log('\n| all-reduce, 2 ranks, Gloo over loopback | MB | ms | GB/s (algorithm) |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(
    `| I3D-LSTM gradient (${(a.params / 1e6).toFixed(2)} M params), one message | ${a.mb.toFixed(1)} | ${a.oneMessageMs.toFixed(1)} | ${a.algoGBps.toFixed(2)} |`,
  );
  console.log(
    `| the same in ${a.buckets} buckets of 25 MB, all in flight | ${a.mb.toFixed(1)} | ${a.bucketedMs.toFixed(1)} | ${gb(a.bucketedMs).toFixed(2)} |`,
  );
  console.log(`| 129 floats (a batch-norm layer's statistics), 200 back to back, each | 0.0005 | ${(a.smallUs / 1000).toFixed(3)} | - |`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
