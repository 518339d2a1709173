// bench/train: ms per training step of our I3D-LSTM (full fine-tuning) next to the same step in PyTorch eager
// (bench/peers/train_step_torch.py: the same architecture and numerics), in one run.
// A step: zeroGrad, forward (train mode, dropout 0.5), cross-entropy, backward, SGD step (momentum 0.9); ours runs in
// a scope, so every temporary is freed at its end.
// Each implementation runs in a fresh child process per round (ours: this script with --worker), so neither inherits
// the other's memory state: a PyTorch child started by a Node process that had just trained (and whose glibc heap
// still held ~1.6 GB of freed tensors) ran ~15% slower on the 2-core VM than one started before. --rounds rounds
// (default 2) alternate the order (ours first, then PyTorch first); each round builds a fresh model, takes --warmup
// steps, then times --runs steps. Each row: the median over the timed steps of all rounds, and per phase (forward
// with the loss, backward, optimizer step with the clean-up) the median of that phase. Each row also says the highest
// 1-minute load average before a round and the most cores other processes kept busy during one (from /proc/stat,
// Linux): on a shared machine that is what makes multi-threaded timings unreliable.
// Usage: node dist/bench/train.js [--runs 3] [--warmup 1] [--rounds 2] [--threads N] [--batch 1] [--segments 4]
//        [--frames 16] [--size 224] [--classes 101] [--formats contiguous,channels_last_3d] [--no-peer] [--json]
// Node options given to this script (e.g. node --single-threaded-gc dist/bench/train.js) apply to ours too.
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { F, getNumThreads, I3DLSTM, manualSeed, ops, scope, setNumThreads, SGD, tensor } from '../src/index.js';
import { findPythonTorch } from '../src/system/python.js';
import { cpuTicks, log, median, positive, ROOT } from './common.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    threads: { type: 'string' },
    batch: { type: 'string', default: '1' },
    segments: { type: 'string', default: '4' },
    frames: { type: 'string', default: '16' },
    size: { type: 'string', default: '224' },
    classes: { type: 'string', default: '101' },
    formats: { type: 'string', default: 'contiguous,channels_last_3d' },
    rounds: { type: 'string', default: '2' },
    'no-peer': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Internal: run one round of ours with this JSON configuration, print its Round as JSON. */
    worker: { type: 'string' },
  },
});

if (values.threads !== undefined) setNumThreads(positive('threads', values.threads));
type Config = typeof cfg;
const cfg = {
  threads: getNumThreads(),
  runs: positive('runs', values.runs),
  warmup: positive('warmup', values.warmup, 0),
  batch: positive('batch', values.batch),
  segments: positive('segments', values.segments),
  frames: positive('frames', values.frames, 8),
  size: positive('size', values.size, 32),
  classes: positive('classes', values.classes),
};
if (values.worker) Object.assign(cfg, JSON.parse(values.worker) as Config);
setNumThreads(cfg.threads);
const rounds = positive('rounds', values.rounds);
const formats = values.formats.split(',').filter((f) => f);
for (const f of formats) if (f !== 'contiguous' && f !== 'channels_last_3d') throw new Error(`--formats: unknown format ${f}`);

/** One round of one implementation: its timed steps, each [total, forward + loss, backward, SGD step + free] ms. */
interface Round {
  steps: number[][];
  loss: number;
  maxRssKiB: number;
  params: number;
}
/** A table row: an implementation over all rounds. */
interface Row {
  name: string;
  /** Medians over all timed steps of all rounds. */
  ms: number;
  forwardMs: number;
  backwardMs: number;
  stepMs: number;
  /** Every timed step's total, in order. */
  times: number[];
  loss: number;
  /** Peak resident memory of the process (the most over rounds). */
  maxRssKiB: number;
  params: number;
  /** Highest 1-minute load average just before a round (it counts this benchmark's own earlier rounds too). */
  loadBefore: number;
  /** Most cores kept busy by other processes during a round, or null without /proc. */
  otherCores: number | null;
}

const rows = new Map<string, Row>();
const stepsOf = new Map<string, number[][]>();
/** Runs one round of an implementation and adds it to its row, with the load around it. */
function measure(name: string, fn: () => Round | string): string | null {
  const loadBefore = loadavg()[0]!;
  const a = cpuTicks();
  const r = fn();
  const b = cpuTicks();
  if (typeof r === 'string') return r;
  const otherCores =
    a && b && b.total > a.total ? Math.max(0, (b.busy - a.busy - (b.own - a.own)) / (b.total - a.total)) * availableParallelism() : null;
  const old = rows.get(name);
  const steps = [...(stepsOf.get(name) ?? []), ...r.steps];
  stepsOf.set(name, steps);
  const m = (k: number) => median(steps.map((st) => st[k]!));
  rows.set(name, {
    name,
    ms: m(0),
    forwardMs: m(1),
    backwardMs: m(2),
    stepMs: m(3),
    times: steps.map((st) => st[0]!),
    loss: r.loss,
    maxRssKiB: Math.max(old?.maxRssKiB ?? 0, r.maxRssKiB),
    params: r.params,
    loadBefore: Math.max(old?.loadBefore ?? 0, loadBefore),
    otherCores: otherCores === null || (old && old.otherCores === null) ? null : Math.max(old?.otherCores ?? 0, otherCores),
  });
  return null;
}

function ours(): Round {
  manualSeed(0);
  const model = new I3DLSTM({ classes: cfg.classes, dropout: 0.5 });
  model.train();
  const params = model.trainableParameters();
  const opt = new SGD(params, { lr: 1e-3, momentum: 0.9 });
  const clips = ops.randn([cfg.batch, cfg.segments, cfg.frames, cfg.size, cfg.size, 3]);
  const labels = tensor(
    BigInt64Array.from({ length: cfg.batch }, (_, i) => BigInt((7 * i + 3) % cfg.classes)),
    [cfg.batch],
  );
  const step = (): { ms: number[]; loss: number } => {
    const t0 = performance.now();
    let t1 = 0;
    let t2 = 0;
    const loss = scope(() => {
      opt.zeroGrad();
      const l = F.crossEntropy(model.forward(clips), labels);
      t1 = performance.now();
      l.backward();
      t2 = performance.now();
      opt.step();
      return l.item();
    });
    const t3 = performance.now();
    return { ms: [t3 - t0, t1 - t0, t2 - t1, t3 - t2], loss };
  };
  for (let i = 0; i < cfg.warmup; i++) log(`[ours] warm-up ${i + 1}: ${step().ms[0]!.toFixed(0)} ms`);
  const steps: number[][] = [];
  let loss = Number.NaN;
  for (let i = 0; i < cfg.runs; i++) {
    const r = step();
    steps.push(r.ms);
    loss = r.loss;
    log(`[ours] step ${i + 1}: ${r.ms[0]!.toFixed(0)} ms`);
  }
  const count = params.reduce((a, p) => a + p.numel, 0);
  opt.dispose();
  clips.dispose();
  labels.dispose();
  model.dispose();
  return { steps, loss, maxRssKiB: process.resourceUsage().maxRSS, params: count };
}

/** One round of ours in a fresh Node process (with this one's Node options), as the peer runs in a fresh Python one. */
function oursChild(): Round | string {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', JSON.stringify(cfg)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 3_600_000,
  });
  if (r.status !== 0) return `ours failed with status ${r.status ?? r.signal}`;
  return JSON.parse(r.stdout) as Round;
}

interface PeerOut extends Round {
  torch: string;
  threads: number;
}

function peer(python: string, format: string): PeerOut | string {
  const r = spawnSync(python, [join(ROOT, 'bench/peers/train_step_torch.py'), JSON.stringify({ ...cfg, format })], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 3_600_000,
  });
  if (r.status !== 0) return `PyTorch peer (${format}) failed with status ${r.status ?? r.signal}`;
  return JSON.parse(r.stdout) as PeerOut;
}

function main(): void {
  const notes: string[] = [];
  const py = values['no-peer'] ? null : findPythonTorch();
  if (values['no-peer']) notes.push('PyTorch peer skipped (--no-peer)');
  else if (!py) notes.push('PyTorch peer skipped: no python3 with torch (sudo apt-get install python3-torch)');

  const OURS = 'ours (addon, libtorch)';
  const peerName = (format: string) => `PyTorch eager, ${format}`;
  let torchVersion = '';
  const runOurs = () => {
    const e = measure(OURS, oursChild);
    if (e) throw new Error(e);
  };
  const runPeers = () => {
    for (const format of py ? formats : []) {
      const e = measure(peerName(format), () => {
        const p = peer(py!.python, format);
        if (typeof p !== 'string') torchVersion = p.torch;
        return p;
      });
      if (e) notes.push(e);
    }
  };
  for (let round = 0; round < rounds; round++) {
    log(`round ${round + 1} of ${rounds}: ${round % 2 ? 'PyTorch' : 'ours'} first`);
    if (round % 2) {
      runPeers();
      runOurs();
    } else {
      runOurs();
      runPeers();
    }
  }
  const us = rows.get(OURS)!;
  const peerRows = formats.map((f) => rows.get(peerName(f))).filter((r): r is Row => !!r);
  if (peerRows.length) notes.push(`PyTorch ${torchVersion} (${py!.python}), ${cfg.threads} thread(s), same shapes (random input)`);
  for (const p of peerRows) if (p.params !== us.params) notes.push(`parameter counts differ: ours ${us.params}, ${p.name} ${p.params}`);
  const best = peerRows.length ? peerRows.reduce((a, b) => (b.ms < a.ms ? b : a)) : null;

  const shape = `[${cfg.batch}, ${cfg.segments}, ${cfg.frames}, ${cfg.size}, ${cfg.size}, 3]`;
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          config: { ...cfg, rounds, shape, cores: availableParallelism(), cpu: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30 },
          ours: us,
          pytorch: peerRows,
          ratio: best ? us.ms / best.ms : null,
          notes,
        },
        null,
        2,
      ),
    );
  } else {
    const s = (ms: number) => (ms / 1000).toFixed(2);
    console.log(
      `I3D-LSTM training step, input ${shape} (batch, segments, frames, H, W, C), ${cfg.classes} classes, full fine-tuning, ` +
        `${cfg.threads} thread(s); ${rounds} round(s) in alternating order, each ${cfg.warmup} warm-up + ${cfg.runs} timed steps; ` +
        `medians over the ${rounds * cfg.runs} timed steps`,
    );
    console.log(
      '| implementation | s / step | forward + loss s | backward s | SGD step + free s | ours / this | peak RSS GiB | load avg before (max) | other processes, cores (max) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of [us, ...peerRows])
      console.log(
        `| ${r.name}${r === best && peerRows.length > 1 ? ' (faster)' : ''} | ${s(r.ms)} | ${s(r.forwardMs)} | ${s(r.backwardMs)} | ` +
          `${s(r.stepMs)} | ${(us.ms / r.ms).toFixed(2)} | ${(r.maxRssKiB / 2 ** 20).toFixed(2)} | ${r.loadBefore.toFixed(2)} | ` +
          `${r.otherCores === null ? '-' : r.otherCores.toFixed(2)} |`,
      );
    console.log(`step totals, s: ${[us, ...peerRows].map((r) => `${r.name}: ${r.times.map(s).join(' ')}`).join('; ')}`);
    for (const n of notes) console.log(n);
  }
}

if (values.worker) console.log(JSON.stringify(ours()));
else main();
