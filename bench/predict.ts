// bench/predict: `i3d predict` over a folder of videos, end to end (decoding the next video while the model runs on
// the current one), next to the model alone on the same clips and to decoding alone. The issue's bar: end-to-end
// throughput within 10% of the model-only throughput when decoding is the cheaper part.
// Usage: node dist/bench/predict.js [--rounds 2] [--repeat 3] [--threads N] [--precision fp32|bf16] [folder or files...]
// Default inputs: the 8 ASL videos of ../shared/data/videos (640x480 H.264, 2-3 s), listed --repeat times (so that
// the start, a model to load and a first video to decode before anything overlaps, weighs as it would on a larger
// folder). Random weights: the speed does not depend on them. Each round runs the three measurements, each with a
// fresh model whose creation is timed too; rounds alternate their order.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClipRunner } from '../src/inference/clip-runner.js';
import { expandInputs, predictFiles } from '../src/inference/predict-files.js';
import { readRgbInput } from '../src/inference/predict.js';
import { getNumThreads, I3D, setNumThreads, type Precision } from '../src/index.js';
import { ROOT } from './common.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
  },
});
if (values.threads) setNumThreads(Number(values.threads));
const precision = values.precision as Precision;
const VIDEOS = join(ROOT, '../shared/data/videos');
const inputs = positionals.length
  ? positionals
  : ['again', 'bird', 'book', 'brother', 'eat', 'help', 'hungry', 'learn'].map((w) => join(VIDEOS, `asl_${w}.mkv`));
const files = Array.from({ length: Number(values.repeat) }, () => expandInputs(inputs)).flat();
const now = () => performance.now() / 1000;

async function decodeOnly(): Promise<number> {
  const t0 = now();
  for (const f of files) await readRgbInput(f);
  return now() - t0;
}

async function modelOnly(): Promise<number> {
  const clips = [];
  for (const f of files) clips.push(await readRgbInput(f));
  const t0 = now();
  const runner = new ClipRunner(new I3D().eval(), { precision });
  try {
    for (const c of clips) await runner.logits(c);
    return now() - t0;
  } finally {
    runner.dispose();
  }
}

const modelInE2e: number[] = [];
async function endToEnd(): Promise<number> {
  const t0 = now();
  const s = await predictFiles(files, { weights: 'random', precision, labels: undefined }, (r) => {
    if (r.error) throw new Error(`${r.input}: ${r.error}`);
  });
  if (s.failed) throw new Error(`${s.failed} file(s) failed`);
  modelInE2e.push(s.modelSeconds);
  return now() - t0;
}

const rows: Record<'decode' | 'model' | 'e2e', number[]> = { decode: [], model: [], e2e: [] };
for (let r = 0; r < Number(values.rounds); r++) {
  const order = r % 2 === 0 ? (['decode', 'model', 'e2e'] as const) : (['e2e', 'model', 'decode'] as const);
  for (const what of order)
    rows[what].push(what === 'decode' ? await decodeOnly() : what === 'model' ? await modelOnly() : await endToEnd());
}
const best = (xs: number[]) => Math.min(...xs);
const rate = (s: number) => files.length / s;
console.log(
  `i3d predict over ${files.length} videos (${values.repeat} x ${files.length / Number(values.repeat)}), I3D RGB ${precision}, ${getNumThreads()} thread(s), best of ${values.rounds} round(s)`,
);
console.log('| measurement | s (all files) | videos / s | end to end / this (throughput) |');
console.log('| --- | ---: | ---: | ---: |');
const e2e = best(rows.e2e);
for (const [name, key] of [
  ['decoding + preprocessing only (one after another)', 'decode'],
  ['model only (clips decoded beforehand)', 'model'],
  ['end to end (`predictFiles`: decoding overlapped)', 'e2e'],
] as const) {
  const s = best(rows[key]);
  console.log(`| ${name} | ${s.toFixed(2)} | ${rate(s).toFixed(3)} | ${(rate(e2e) / rate(s)).toFixed(3)} |`);
}
console.log(`the model's own time within end to end, s: ${modelInE2e.map((x) => x.toFixed(2)).join(' ')}`);
console.log(
  `all rounds, s: ${Object.entries(rows)
    .map(([k, v]) => `${k} ${v.map((x) => x.toFixed(2)).join(' ')}`)
    .join('; ')}`,
);
