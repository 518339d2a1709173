// bench/inference: ms per clip of model-only I3D RGB inference (one clip [1, T, H, W, 3], no video decoding) on the
// CPU, in one run, for: our fused oneDNN path (FusedI3D, fp32 and, on CPUs with AVX512-BF16, bf16), our libtorch
// eager path (the reference), PyTorch eager (bench/peers/i3d_inference_torch.py: the same architecture and numerics)
// and onnxruntime-node (CPU execution provider) on an ONNX file that the Python peer exports from that PyTorch model.
// Every row runs THE SAME WEIGHTS on THE SAME CLIP: this script makes a random I3D (seeded; batch-norm running
// statistics and betas set to non-trivial values so that folding them into the convolutions is exercised), saves it as
// a model folder (model.safetensors, our parameter names, which the peer loads by name with strict checking) and one
// random clip in [-1, 1] as .npy into a temporary directory; every child reads both.
// Each implementation runs in a fresh child process per round (ours and onnxruntime: this script with --worker; the
// ORT child never loads libtorch), so none inherits another's memory state. --rounds rounds (default 2) alternate
// the order (forward, then reversed); each child takes --warmup untimed forwards, then times --runs. Each row: the
// median over the timed runs of all rounds, the peak RSS of its child (most over rounds), its logits against ours
// fp32 (max |diff| / max |logit|, and whether the top-1 class agrees), the highest 1-minute load average before one
// of its children and the most cores other processes kept busy during one (from /proc/stat, Linux).
// What is timed: ours fp32 / bf16: FusedI3D.featureMap (to Mixed_5c; the oneDNN plan for the shape is built before
// the warm-up, its time is a note; the head, an average pool and a 1x1x1 convolution, is ~0.01% of the work);
// ours eager: model.forward in eval mode under noGrad; PyTorch eager: model(x) under torch.no_grad() on the
// NCDHW-contiguous clip; onnxruntime: session.run on the NCDHW clip (transposed before timing). GFLOP/s: 2 x the
// multiply-adds of every convolution at this shape (counted by walking the model, TF-SAME output sizes) / time.
// --isa native,AVX2 (the default) repeats every row under each instruction set: 'native' is the CPU's own, any other
// value is given to the children as ONEDNN_MAX_CPU_ISA (oneDNN under ours and under PyTorch), with
// ATEN_CPU_CAPABILITY=avx2 for AVX2 (libtorch's own vectorised kernels), so an AVX-512 machine runs the AVX2 machine's
// paths. onnxruntime has no such cap (its MLAS kernels pick the CPU's best): its row runs as it is.
// Usage: node dist/bench/inference.js [--frames 64] [--size 224] [--threads <all cores>] [--runs 3] [--warmup 1]
//        [--rounds 2] [--seed 0] [--impls fp32,bf16,eager,torch,ort] [--isa native,AVX2] [--no-peer] [--json]
// Ratios are of times (ours / the other): below 1, ours is faster.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNpyFloat32, writeNpy } from '../src/io/npy.js';
import { findPythonTorch } from '../src/system/python.js';
import { cpuTicks, log, median, positive, ROOT } from './common.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '64' },
    size: { type: 'string', default: '224' },
    threads: { type: 'string' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    seed: { type: 'string', default: '0' },
    /** Which rows (default all): fp32, bf16, eager (ours), torch (PyTorch eager), ort (onnxruntime). */
    impls: { type: 'string', default: 'fp32,bf16,eager,torch,ort' },
    /** Instruction sets to run every row under: 'native', or oneDNN caps such as AVX2, AVX512_CORE. */
    isa: { type: 'string', default: 'native,AVX2' },
    'no-peer': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Internal: run one implementation with this JSON Job, print its Result as JSON. */
    worker: { type: 'string' },
  },
});

type Impl = 'fp32' | 'bf16' | 'eager' | 'ort';
/** What a worker child runs. */
interface Job {
  impl: Impl;
  model: string;
  clip: string;
  onnx: string;
  threads: number;
  runs: number;
  warmup: number;
}
/** What a child (worker or Python peer) prints. */
interface Result {
  times: number[];
  logits: number[];
  maxRssKiB: number;
  /** A line for the notes (plan build time, versions). */
  info?: string;
  torch?: string;
}

/** Times `warmup` + `runs` calls of fn (which returns its own ms), logging each. */
async function timeRuns(label: string, job: Job, fn: () => number | Promise<number>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < job.warmup + job.runs; i++) {
    const ms = await fn();
    const timed = i >= job.warmup;
    if (timed) times.push(ms);
    log(`[${label}] ${timed ? `run ${i - job.warmup + 1}` : `warm-up ${i + 1}`}: ${ms.toFixed(0)} ms`);
  }
  return times;
}

/** One implementation in this (child) process. */
async function worker(job: Job): Promise<Result> {
  if (job.impl === 'ort') {
    // Only onnxruntime in this process: libtorch is never loaded (its threads and memory would count here).
    const ort = await import('onnxruntime-node');
    const { data, shape } = readNpyFloat32(job.clip);
    const [n, t, h, w, c] = shape as [number, number, number, number, number];
    const nchw = new Float32Array(data.length); // [N, T, H, W, C] -> [N, C, T, H, W], before timing
    const thw = t * h * w;
    for (let b = 0; b < n; b++)
      for (let p = 0; p < thw; p++) for (let k = 0; k < c; k++) nchw[(b * c + k) * thw + p] = data[(b * thw + p) * c + k]!;
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(job.onnx, {
      executionProviders: ['cpu'],
      intraOpNumThreads: job.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const createMs = performance.now() - t0;
    const input = new ort.Tensor('float32', nchw, [n, c, t, h, w]);
    let logits: number[] = [];
    const times = await timeRuns('onnxruntime', job, async () => {
      const s = performance.now();
      const out = await session.run({ [session.inputNames[0]!]: input });
      const ms = performance.now() - s;
      logits = Array.from(out[session.outputNames[0]!]!.data as Float32Array);
      return ms;
    });
    await session.release();
    return {
      times,
      logits,
      maxRssKiB: process.resourceUsage().maxRSS,
      info: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}: session created (graph optimized) in ${createMs.toFixed(0)} ms`,
    };
  }
  const { cpuSupport, FusedI3D, loadModel, noGrad, scope, setNumThreads, tensor } = await import('../src/index.js');
  setNumThreads(job.threads);
  const { model } = loadModel(job.model); // eval mode
  const { data, shape } = readNpyFloat32(job.clip);
  const clip = tensor(data, shape);
  let logits: number[] = [];
  let info: string | undefined;
  let times: number[];
  if (job.impl === 'eager') {
    times = await timeRuns('ours eager', job, () =>
      scope(() => {
        const s = performance.now();
        const out = noGrad(() => model.forward(clip));
        const ms = performance.now() - s;
        logits = out.logits!.toArray();
        return ms;
      }),
    );
  } else {
    const t0 = performance.now();
    const fused = new FusedI3D(model, { precision: job.impl });
    const t1 = performance.now();
    const layout = fused.layout(shape[1]!, shape[2]!, shape[3]!);
    const t2 = performance.now();
    const kernels = [...new Set(fused.implementations(shape[1]!, shape[2]!, shape[3]!).filter((k) => !k.startsWith('reorder')))];
    info =
      `ours ${job.impl} (oneDNN ISA ${cpuSupport().isa}): batch norm folded in ${(t1 - t0).toFixed(0)} ms, oneDNN plan built in ` +
      `${(t2 - t1).toFixed(0)} ms (before the warm-up), ${layout ? `${layout}-channel blocks, kernels ${kernels.join(' ')}` : 'EAGER FALLBACK'}`;
    times = await timeRuns(`ours ${job.impl}`, job, () =>
      scope(() => {
        const s = performance.now();
        fused.featureMap(clip);
        return performance.now() - s;
      }),
    );
    logits = scope(() => fused.forward(clip).logits!.toArray());
  }
  clip.dispose();
  model.dispose();
  return { times, logits, maxRssKiB: process.resourceUsage().maxRSS, ...(info ? { info } : {}) };
}

/** The environment of a child under an ISA: 'native', or a oneDNN cap (AVX2 also caps libtorch's own kernels). */
function isaEnv(isa: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.ONEDNN_MAX_CPU_ISA;
  delete env.DNNL_MAX_CPU_ISA;
  delete env.ATEN_CPU_CAPABILITY;
  if (isa !== 'native') env.ONEDNN_MAX_CPU_ISA = isa;
  if (isa.toUpperCase() === 'AVX2') env.ATEN_CPU_CAPABILITY = 'avx2';
  return env;
}

/** Runs a child that prints a Result as its last line of stdout (stderr goes through). */
function child(cmd: string, args: string[], what: string, env: NodeJS.ProcessEnv = process.env): Result | string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 3_600_000,
    maxBuffer: 64 * 2 ** 20,
    env,
  });
  if (r.status !== 0) return `${what} failed with status ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}`;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Result;
  } catch {
    return `${what} printed no result: ${last.slice(0, 200)}`;
  }
}

interface Row {
  name: string;
  times: number[];
  logits: number[];
  maxRssKiB: number;
  loadBefore: number;
  otherCores: number | null;
}

async function main(): Promise<void> {
  const frames = positive('frames', values.frames, 8);
  const size = positive('size', values.size, 32);
  const threads = values.threads === undefined ? availableParallelism() : positive('threads', values.threads);
  const runs = positive('runs', values.runs);
  const warmup = positive('warmup', values.warmup, 0);
  const rounds = positive('rounds', values.rounds);
  const seed = positive('seed', values.seed, 0);
  const ALL = ['fp32', 'bf16', 'eager', 'torch', 'ort'] as const;
  const wanted = values.impls.split(',').filter((i) => i);
  for (const i of wanted) if (!(ALL as readonly string[]).includes(i)) throw new Error(`--impls: unknown ${i} (${ALL.join(', ')})`);
  const want = (i: (typeof ALL)[number]) => wanted.includes(i);
  const { bf16OnIsa, cpuSupport, I3D, i3dMacs, manualSeed, noGrad, ops, saveModel, scope, setNumThreads } = await import('../src/index.js');
  const isas = values.isa.split(',').filter((i) => i);
  if (isas.length === 0) throw new Error('--isa: at least one of native, AVX2, AVX512_CORE, ...');
  setNumThreads(threads);

  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'i3d-bench-inference-'));
  try {
    // The weights and the clip every child uses.
    manualSeed(seed);
    const model = new I3D({ stream: 'rgb', classes: 400 });
    noGrad(() =>
      scope(() => {
        for (const [name, t] of model.stateTensors()) {
          if (name.endsWith('.bn.running_mean') || name.endsWith('.bn.beta') || name.endsWith('.conv.bias'))
            t.copyFrom(ops.randn([...t.shape]).mul(0.1));
          else if (name.endsWith('.bn.running_var')) t.copyFrom(ops.rand([...t.shape]).add(0.5));
        }
      }),
    );
    const modelDir = join(dir, 'model');
    saveModel(model, modelDir);
    const macs = i3dMacs(model, frames, size, size);
    model.dispose();
    const clipPath = join(dir, 'clip.npy');
    const clipShape = [1, frames, size, size, 3];
    writeNpy(
      clipPath,
      scope(() => ops.rand(clipShape).mul(2).sub(1).data() as Float32Array),
      clipShape,
    );
    const job = { model: modelDir, clip: clipPath, onnx: join(dir, 'i3d.onnx'), threads, runs, warmup };

    // The PyTorch peer and the ONNX export (once, untimed).
    const peerScript = join(ROOT, 'bench/peers/i3d_inference_torch.py');
    const py = values['no-peer'] || !(want('torch') || want('ort')) ? null : findPythonTorch();
    let torchVersion = '';
    let ortOk = false;
    if (values['no-peer']) notes.push('PyTorch and onnxruntime rows skipped (--no-peer)');
    else if (!py)
      notes.push(
        'PyTorch and onnxruntime rows skipped: no python3 with torch (sudo apt-get install python3-torch); ORT needs its ONNX export',
      );
    else if (want('ort')) {
      log(`exporting the PyTorch model to ONNX (${py.python}, torch ${py.torch})`);
      const t0 = performance.now();
      const e = child(py.python, [peerScript, JSON.stringify({ ...job, mode: 'export' })], 'ONNX export');
      if (typeof e === 'string') notes.push(`${e}: onnxruntime row skipped`);
      else {
        ortOk = true;
        notes.push(
          `ONNX: torch.onnx.export (opset 17, constant folding) of the PyTorch peer's model in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
    }

    const NAMES: Record<Impl | 'torch', string> = {
      fp32: 'ours fp32 (FusedI3D, oneDNN)',
      bf16: 'ours bf16 (FusedI3D, oneDNN)',
      eager: 'ours eager (libtorch, reference)',
      torch: `PyTorch eager ${py?.torch ?? ''}`.trim(),
      ort: 'onnxruntime-node, CPU EP',
    };
    const bf16 = want('bf16') && cpuSupport().bf16;
    if (want('bf16') && !bf16) notes.push(`ours bf16 skipped: oneDNN has no bf16 kernels here (ISA ${cpuSupport().isa})`);
    const impls = ALL.filter((i) => want(i) && (i !== 'bf16' || bf16) && (i !== 'torch' || py) && (i !== 'ort' || ortOk));
    // onnxruntime cannot be capped: its row runs once, under the native ISA. bf16 only where the capped ISA has it.
    const implsUnder = (isa: string) =>
      impls.filter((i) => (isa === 'native' || i !== 'ort') && (i !== 'bf16' || isa === 'native' || bf16OnIsa(isa.toLowerCase())));
    const label = (impl: Impl | 'torch', isa: string) => (isa === 'native' ? NAMES[impl] : `${NAMES[impl]} @ ${isa}`);

    const rows = new Map<string, Row>();
    const infos: string[] = [];
    const run = (impl: Impl | 'torch', isa: string, round: number): void => {
      const name = label(impl, isa);
      const env = isaEnv(isa);
      const loadBefore = loadavg()[0]!;
      const a = cpuTicks();
      const r =
        impl === 'torch'
          ? child(py!.python, [peerScript, JSON.stringify({ ...job, mode: 'time' })], 'PyTorch peer', env)
          : child(
              process.execPath,
              [...process.execArgv, fileURLToPath(import.meta.url), '--worker', JSON.stringify({ ...job, impl })],
              name,
              env,
            );
      const b = cpuTicks();
      if (typeof r === 'string') {
        notes.push(r);
        return;
      }
      if (r.info) infos.push(`round ${round + 1}${isa === 'native' ? '' : ` @ ${isa}`}, ${r.info}`);
      if (r.torch) torchVersion = r.torch;
      const otherCores =
        a && b && b.total > a.total
          ? Math.max(0, (b.busy - a.busy - (b.own - a.own)) / (b.total - a.total)) * availableParallelism()
          : null;
      const old = rows.get(name);
      rows.set(name, {
        name,
        times: [...(old?.times ?? []), ...r.times],
        logits: r.logits,
        maxRssKiB: Math.max(old?.maxRssKiB ?? 0, r.maxRssKiB),
        loadBefore: Math.max(old?.loadBefore ?? 0, loadBefore),
        otherCores: otherCores === null || (old && old.otherCores === null) ? null : Math.max(old?.otherCores ?? 0, otherCores),
      });
    };
    const roundLoads: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const jobs = isas.flatMap((isa) => implsUnder(isa).map((impl) => ({ impl, isa })));
      const order = round % 2 ? [...jobs].reverse() : jobs;
      roundLoads.push(loadavg()[0]!);
      log(`round ${round + 1} of ${rounds}: ${order.map((j) => label(j.impl, j.isa)).join(', ')}`);
      for (const j of order) run(j.impl, j.isa, round);
    }

    // The table.
    const ref = rows.get(NAMES.fp32);
    const argmax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0);
    const agreement = (r: Row) => {
      if (!ref || r.logits.length !== ref.logits.length) return null;
      const scale = Math.max(...ref.logits.map(Math.abs));
      const diff = Math.max(...r.logits.map((x, i) => Math.abs(x - ref.logits[i]!)));
      return { relDiff: diff / scale, top1: argmax(r.logits) === argmax(ref.logits) };
    };
    const ms = (r: Row | undefined) => (r ? median(r.times) : null);
    // Ratios of times (a / b): below 1, a is faster.
    const ratio = (a: Row | undefined, b: Row | undefined) => (a && b ? ms(a)! / ms(b)! : null);
    const table = isas
      .flatMap((isa) => implsUnder(isa).map((i) => ({ isa, row: rows.get(label(i, isa)) })))
      .filter((x): x is { isa: string; row: Row } => !!x.row)
      .map(({ isa, row: r }) => ({
        ...r,
        isa,
        ms: ms(r)!,
        gflops: (2 * macs) / (ms(r)! / 1000) / 1e9,
        oursFp32OverThis: ratio(rows.get(label('fp32', isa)), r),
        agreement: agreement(r),
      }));
    const ort = rows.get(NAMES.ort);
    const explicit: Record<string, number | null> = {};
    for (const isa of isas) {
      const at = isa === 'native' ? '' : ` @ ${isa}`;
      const fp32 = rows.get(label('fp32', isa));
      explicit[`ours fp32${at} / onnxruntime`] = ratio(fp32, ort);
      explicit[`ours eager${at} / onnxruntime`] = ratio(rows.get(label('eager', isa)), ort);
      explicit[`ours fp32${at} / PyTorch eager${at}`] = ratio(fp32, rows.get(label('torch', isa)));
      if (isa === 'native') explicit['ours bf16 / onnxruntime fp32'] = ratio(rows.get(NAMES.bf16), ort);
    }
    const shape = `[${clipShape.join(', ')}]`;
    if (isas.length > 1 || isas[0] !== 'native')
      notes.push(
        'ISA: rows marked @ CAP ran with ONEDNN_MAX_CPU_ISA=CAP (and ATEN_CPU_CAPABILITY=avx2 for AVX2); onnxruntime cannot be capped and ran on the native ISA',
      );
    if (torchVersion || py) notes.push(`PyTorch ${torchVersion || py!.torch} (${py!.python}), torch.set_num_threads(${threads})`);
    notes.push(
      `threads: ${threads} (ours: libtorch/oneDNN intra-op; PyTorch: set_num_threads; onnxruntime: intraOpNumThreads ${threads}, ` +
        `interOpNumThreads 1, graphOptimizationLevel 'all'); ${availableParallelism()} cores, ${cpus()[0]?.model ?? '?'}`,
    );
    notes.push(...infos);
    roundLoads.forEach((l, i) => notes.push(`load average (1 min) before round ${i + 1}: ${l.toFixed(2)}`));
    notes.push(
      'ours fp32 / bf16 time FusedI3D.featureMap (to Mixed_5c; the head is < 0.01% of the work); the other rows the whole forward to the logits',
    );
    notes.push(
      `work: ${(macs / 1e9).toFixed(1)} GMAC per clip (every convolution at this shape, the logits' too); GFLOP/s = 2 x MACs / time`,
    );

    if (values.json) {
      console.log(
        JSON.stringify(
          {
            config: {
              frames,
              size,
              threads,
              runs,
              warmup,
              rounds,
              seed,
              shape,
              cores: availableParallelism(),
              cpu: cpus()[0]?.model,
              memGiB: totalmem() / 2 ** 30,
            },
            gmac: macs / 1e9,
            rows: table,
            ratios: explicit,
            notes,
          },
          null,
          2,
        ),
      );
      return;
    }
    const f = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
    console.log(
      `I3D RGB inference, model only, one clip ${shape} (batch, frames, H, W, C), 400 classes, same weights and clip in every row, ` +
        `${threads} thread(s); ISA ${isas.join(', ')} (ours fp32 / this: against ours fp32 under the same ISA); ` +
        `${rounds} round(s) in alternating order, each child ${warmup} warm-up + ${runs} timed forwards; ` +
        `medians over the ${rounds * runs} timed forwards`,
    );
    console.log(
      '| implementation | ms / clip (median) | GFLOP/s | ours fp32 / this | peak RSS MiB | max abs logit diff / max abs logit (vs ours fp32) | top-1 agrees | load avg before (max) | other processes, cores (max) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: |');
    for (const r of table)
      console.log(
        `| ${r.name} | ${r.ms.toFixed(0)} | ${r.gflops.toFixed(1)} | ${f(r.oursFp32OverThis)} | ${(r.maxRssKiB / 1024).toFixed(0)} | ` +
          `${r === table[0] && r.name === NAMES.fp32 ? '(reference)' : r.agreement ? r.agreement.relDiff.toExponential(1) : '-'} | ` +
          `${r.agreement ? (r.agreement.top1 ? 'yes' : 'NO') : '-'} | ${r.loadBefore.toFixed(2)} | ${f(r.otherCores)} |`,
      );
    console.log(`times, ms: ${table.map((r) => `${r.name}: ${r.times.map((t) => t.toFixed(0)).join(' ')}`).join('; ')}`);
    for (const [k, v] of Object.entries(explicit))
      console.log(`${k} (time ratio; below 1: ours faster): ${v === null ? 'n/a (row missing)' : v.toFixed(2)}`);
    for (const n of notes) console.log(n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.worker) console.log(JSON.stringify(await worker(JSON.parse(values.worker) as Job)));
else await main();
