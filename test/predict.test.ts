// `i3d predict` end to end: .npy clips, weights from a file and from the zoo (through a local mirror), two-stream,
// labels, --json and the text format of the official sample, and bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cpuSupport, formatPrediction, I3D, i3dMacs, loadClip, topK, writeNpy, ZOO } from '../src/index.js';
import { BIN, type CliResult, type I3DCase, i3dParityFixtures, relErr, runCli, runCliAll, SHARED } from './helpers.js';

const LABELS = join(SHARED, 'data/kinetics-i3d/label_map.txt');
const labelNames = readFileSync(LABELS, 'utf8').trim().split('\n');

let fx: { dir: string; cases: I3DCase[] };
let tmp = '';
const caseOf = (name: string) => fx.cases.find((c) => c.name === name)!;
/** A parity case's clip as .npy (its reference logits come with it). */
const npy: Record<string, string> = {};

before(() => {
  fx = i3dParityFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'i3d-predict-'));
  for (const name of ['rgb_top_odd_nonsquare', 'flow_top_224']) {
    const c = caseOf(name);
    npy[name] = join(tmp, `${name}.npy`);
    writeNpy(npy[name], new Float32Array(readFileSync(join(fx.dir, c.clip)).buffer.slice(0)), c.shape);
  }
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI offline, without blocking the event loop (a test may serve HTTP meanwhile). */
const i3d = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(args, { env: { I3D_OFFLINE: '1', ...env } });

/** An ffmpeg test pattern of `frames` frames, 96x64 at 25 fps. */
function testVideo(name: string, frames: number): string {
  const video = join(tmp, name);
  const made = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=96x64:rate=25',
    '-frames:v',
    String(frames),
    '-pix_fmt',
    'yuv420p',
    video,
  ]);
  assert.equal(made.status, 0, String(made.stderr));
  return video;
}

interface Json {
  logits: number[];
  top: { index: number; label: string; probability: number; logit: number }[];
}

test('predict --json on a .npy clip with Keras weights: the reference logits, top-k sorted, real labels', async () => {
  const c = caseOf('rgb_top_odd_nonsquare');
  const r = await i3d(['predict', npy[c.name]!, '--weights', join(fx.dir, c.weights), '--labels', LABELS, '--top', '7', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Json;
  assert.ok(relErr(j.logits, c.logits!) <= 1e-4, `logits relative error ${relErr(j.logits, c.logits!)}`);
  assert.equal(j.top.length, 7);
  const best = c.logits!.indexOf(Math.max(...c.logits!));
  assert.equal(j.top[0]!.index, best);
  assert.equal(j.top[0]!.label, labelNames[best]);
  for (let i = 1; i < j.top.length; i++) assert.ok(j.top[i - 1]!.logit >= j.top[i]!.logit);
  for (const t of j.top) {
    assert.equal(t.logit, j.logits[t.index]);
    assert.equal(t.label, labelNames[t.index]);
  }
  const z = j.logits.reduce((s, x) => s + Math.exp(x - j.top[0]!.logit), 0);
  assert.ok(Math.abs(j.top[0]!.probability - 1 / z) < 1e-12, 'probability is the softmax of the logits');
});

test("two-stream: --flow and --flow-weights add the streams' logits, like the official evaluate_sample.py", async () => {
  const rgb = caseOf('rgb_top_odd_nonsquare');
  const flow = caseOf('flow_top_224');
  const r = await i3d([
    'predict',
    npy[rgb.name]!,
    '--weights',
    join(fx.dir, rgb.weights),
    '--flow',
    npy[flow.name]!,
    '--flow-weights',
    join(fx.dir, flow.weights),
    '--labels',
    LABELS,
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const sum = rgb.logits!.map((x, i) => x + flow.logits![i]!);
  assert.ok(relErr((JSON.parse(r.stdout) as Json).logits, sum) <= 1e-4);
});

test('the text output follows the official sample: norm of logits, then probability, logit and label per line', async () => {
  const c = caseOf('rgb_top_odd_nonsquare');
  const r = await i3d(['predict', npy[c.name]!, '--weights', join(fx.dir, c.weights), '--labels', LABELS]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const norm = Math.sqrt(c.logits!.reduce((s, x) => s + x * x, 0));
  assert.match(lines[0]!, /^Norm of logits: \d+\.\d{6}$/);
  assert.ok(Math.abs(Number(lines[0]!.split(': ')[1]) - norm) / norm < 1e-4);
  assert.equal(lines[1], '');
  assert.equal(lines[2], 'Top classes and probabilities');
  assert.equal(lines.length, 3 + 5, 'top 5 by default');
  const official = readFileSync(join(SHARED, 'data/kinetics-i3d/out/imagenet_rgb.txt'), 'utf8').trim().split('\n');
  const shape = /^(\S+) (\S+) (.+)$/;
  for (const l of [...lines.slice(3), ...official.slice(3)]) assert.match(l, shape, 'same line shape as the official output');
  for (const l of lines.slice(3)) assert.ok(labelNames.includes(shape.exec(l)![3]!), l);
  // Two classes with the official top-2 logits: probability 1 / (1 + e^-(15.957031 - 12.808723)), 7 significant digits.
  const p = topK([15.957031, 12.808723], 1, ['playing cricket', 'hurling (sport)']);
  assert.match(formatPrediction(p).split('\n')[3]!, /^0\.9588420 15\.95703 playing cricket$/);
});

test('weights and labels by zoo name: downloaded through a mirror into the cache, then used offline', async () => {
  const c = caseOf('rgb_top_odd_nonsquare');
  const served = new Map([
    [`/${ZOO.get('rgb_imagenet_and_kinetics')!.fileName}`, readFileSync(join(fx.dir, c.weights))],
    ['/kinetics400_label_map.txt', readFileSync(LABELS)],
  ]);
  const server: Server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (body) res.writeHead(200, { 'content-length': String(body.length) }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cache = join(tmp, 'cache');
  try {
    const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await i3d(['predict', npy[c.name]!, '--json'], { I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: mirror, I3D_OFFLINE: '0' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /downloading rgb_imagenet_and_kinetics \(\d+\.\d MB\)/);
    const j = JSON.parse(r.stdout) as Json;
    assert.ok(relErr(j.logits, c.logits!) <= 1e-4);
    assert.equal(j.top[0]!.label, labelNames[j.top[0]!.index], 'Kinetics-400 names by default for 400 classes');
  } finally {
    server.close();
  }
  const again = await i3d(['predict', npy[c.name]!, '--json', '--top', '1'], { I3D_CACHE_DIR: cache });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /downloading/);
});

test('predict on the official cricket sample GIF runs end to end (random weights, real labels)', async () => {
  const gif = join(SHARED, 'data/kinetics-i3d/v_CricketShot_g04_c01_rgb.gif');
  const clip = await loadClip(gif, { frames: 'all', resize: false });
  assert.deepEqual(clip.shape, [1, 79, 224, 224, 3], 'the sample is 79 frames of 224x224');
  const text = await i3d(['predict', gif, '--weights', 'random', '--labels', LABELS, '--no-resize']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stderr, /random weights: the classes below mean nothing/);
  const lines = text.stdout.trim().split('\n');
  assert.match(lines[0]!, /^Norm of logits: \d+\.\d{6}$/);
  assert.equal(lines[2], 'Top classes and probabilities');
  assert.equal(lines.length, 8);
  for (const l of lines.slice(3)) {
    const m = /^(\S+) (\S+) (.+)$/.exec(l)!;
    assert.ok(Number(m[1]) > 0 && Number(m[1]) < 1 && Number.isFinite(Number(m[2])), l);
    assert.ok(labelNames.includes(m[3]!), `a Kinetics-400 label: ${l}`);
  }
  const json = await i3d(['predict', gif, '--weights', 'random', '--labels', LABELS, '--no-resize', '--json', '--top', '3']);
  assert.equal(json.status, 0, json.stderr);
  const j = JSON.parse(json.stdout) as Json;
  assert.equal(j.logits.length, 400);
  assert.deepEqual(Object.keys(j.top[0]!).sort(), ['index', 'label', 'logit', 'probability']);
  assert.equal(j.top.length, 3);
});

test('a video of fewer than 8 frames is looped up to the 8 frames I3D needs', async () => {
  const video = testVideo('six.mp4', 6);
  const r = await i3d(['predict', video, '--weights', 'random', '--labels', LABELS, '--json', '--size', '64', '--resize', '64']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as Json).logits.length, 400);
});

test('a video of several chunks: a progress line per chunk group on stderr when it is not a terminal, the logits of one pass', async () => {
  const video = testVideo('long.mp4', 400);
  const weights = join(fx.dir, caseOf('rgb_top_odd_nonsquare').weights); // the same weights in both processes
  const args = ['predict', video, '--weights', weights, '--labels', LABELS, '--json', '--size', '64', '--resize', '64'];
  const whole = await i3d(args);
  assert.equal(whole.status, 0, whole.stderr);
  assert.doesNotMatch(whole.stderr, /chunk/, 'one chunk under the default budget: no progress lines');
  const chunked = await i3d([...args, '--max-memory', '600']);
  assert.equal(chunked.status, 0, chunked.stderr);
  const lines = [...chunked.stderr.matchAll(/^i3d: rgb: chunk (\d+)\/(\d+), (\d+)\/400 frames, [\d.]+ s(, ETA \S+)?$/gm)];
  assert.ok(lines.length >= 2, chunked.stderr);
  const total = Number(lines[0]![2]);
  assert.ok(total >= 2, `several chunks (${total})`);
  assert.equal(lines[0]![1], '1', 'a line after the first chunk');
  assert.ok(lines[0]![4], 'with an ETA');
  assert.deepEqual([Number(lines.at(-1)![1]), Number(lines.at(-1)![3]), lines.at(-1)![4]], [total, 400, undefined], 'and at the end');
  assert.ok(relErr((JSON.parse(chunked.stdout) as Json).logits, (JSON.parse(whole.stdout) as Json).logits) < 1e-5);
});

test('two-stream on a video: with --flow-weights and no --flow, the flow is computed from the video', async () => {
  const video = testVideo('twelve.mp4', 12);
  const args = [
    'predict',
    video,
    '--weights',
    'random',
    '--flow-weights',
    'random',
    '--labels',
    LABELS,
    '--json',
    '--size',
    '64',
    '--resize',
    '64',
  ];
  const r = await i3d(args, { I3D_CACHE_DIR: join(tmp, 'flow-cache') });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as Json).logits.length, 400);
  assert.ok(readdirSync(join(tmp, 'flow-cache/flow')).length > 0, 'the flow went to the cache');
});

test('bad input: the CLI names the file and the problem, and exits with the code of the kind of error (README: Errors and exit codes)', async () => {
  const flow = npy.flow_top_224!;
  const rgbWeights = join(fx.dir, caseOf('rgb_top_odd_nonsquare').weights);
  const checks: [string[], RegExp, number][] = [
    [['predict', flow, '--weights', 'random'], /flow_top_224\.npy: 2 channels, but the rgb stream takes 3/, 3],
    [['predict', join(tmp, 'missing.npy'), '--weights', 'random'], /missing\.npy: cannot read \(ENOENT\)/, 3],
    [['predict', LABELS, '--weights', 'random'], /label_map\.txt: a text file, not a video/, 3],
    [
      ['predict', npy.rgb_top_odd_nonsquare!, '--weights', join(fx.dir, caseOf('flow_top_224').weights)],
      /these are flow weights, but the rgb stream needs rgb weights/,
      4,
    ],
    [
      ['predict', npy.rgb_top_odd_nonsquare!, '--weights', rgbWeights, '--flow-weights', 'random'],
      /--flow-weights with a .npy clip needs --flow/,
      2,
    ],
    [
      ['predict', npy.rgb_top_odd_nonsquare!, '--weights', 'rgb_imagenet'],
      /rgb_imagenet: neither a file, a checkpoint nor a model-zoo name/,
      4,
    ],
    [['predict', npy.rgb_top_odd_nonsquare!, '--weights', 'random', '--top', '0'], /--top must be a positive integer/, 2],
    [['predict', npy.rgb_top_odd_nonsquare!, '--weights', 'random', '--precision', 'fp16'], /--precision must be fp32 or bf16/, 2],
    [['predict', npy.rgb_top_odd_nonsquare!, '--weights', 'random', '--eager', '--precision', 'bf16'], /bf16 needs the fused engine/, 2],
    [
      ['predict', npy.rgb_top_odd_nonsquare!, '--weights', 'random', '--labels', join(fx.dir, 'cases.json')],
      /label map has 1 names but the model has 400 classes/,
      4,
    ],
  ];
  const results = await runCliAll(
    checks.map(([args]) => args),
    { env: { I3D_OFFLINE: '1' } },
  );
  checks.forEach(([args, message, status], i) => {
    const r = results[i]!;
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  });
  const r = spawnSync(process.execPath, [BIN, 'predict', '--help'], { encoding: 'utf8' });
  assert.match(r.stdout, /Zoo names: rgb_imagenet_and_kinetics, rgb_imagenet_and_kinetics_no_top, /);
});

test('the eager ops and the fused path (fp32 and bf16) give the same prediction on a .npy clip', async () => {
  const c = caseOf('rgb_top_odd_nonsquare');
  const run = async (extra: string[]) => {
    const r = await i3d(['predict', npy[c.name]!, '--weights', join(fx.dir, c.weights), '--labels', LABELS, '--json', ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Json;
  };
  const eager = await run(['--eager']);
  const fused = await run([]);
  assert.ok(relErr(eager.logits, c.logits!) <= 1e-4);
  assert.ok(relErr(fused.logits, c.logits!) <= 1e-4);
  if (cpuSupport().bf16) {
    const bf16 = await run(['--precision', 'bf16']);
    assert.equal(bf16.top[0]!.index, fused.top[0]!.index);
    assert.ok(relErr(bf16.logits, c.logits!) < 0.1);
  } else {
    // Never emulated: a clear error naming the missing feature.
    const r = await i3d(['predict', npy[c.name]!, '--weights', join(fx.dir, c.weights), '--precision', 'bf16']);
    assert.equal(r.status, 2, 'not supported here: a usage error');
    assert.match(r.stderr, /bf16 needs a CPU with AVX512-BF16 or AMX/);
  }
});

test('many inputs: folders expand to their videos, one result per file in order, a bad file is reported and the exit code is 1', async () => {
  const dir = join(tmp, 'folder');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const [name, frames] of [
    ['a.mp4', 10],
    ['sub/b.mp4', 12],
  ] as const)
    renameSync(testVideo(`f-${frames}.mp4`, frames), join(dir, name));
  writeFileSync(join(dir, 'notes.txt'), 'not a video, and not listed: no video extension');
  writeFileSync(join(dir, 'broken.avi'), 'random bytes named .avi');
  const c = caseOf('rgb_top_odd_nonsquare');
  const opts = ['--weights', join(fx.dir, c.weights), '--labels', LABELS, '--json', '--size', '64', '--resize', '64'];
  const single = await i3d(['predict', join(dir, 'a.mp4'), ...opts]);
  assert.equal(single.status, 0, single.stderr);
  const r = await i3d(['predict', dir, npy[c.name]!, ...opts]);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json & { input: string; error?: string });
  assert.deepEqual(
    lines.map((l) => l.input),
    [join(dir, 'a.mp4'), join(dir, 'broken.avi'), join(dir, 'sub/b.mp4'), npy.rgb_top_odd_nonsquare!],
  );
  assert.match(lines[1]!.error ?? '', /broken\.avi/);
  for (const l of [lines[0]!, lines[2]!, lines[3]!]) assert.equal(l.logits.length, 400);
  // The same video alone and within the folder: the same logits; the .npy clip gives the reference's.
  assert.deepEqual(lines[0]!.logits, (JSON.parse(single.stdout) as Json).logits);
  assert.ok(relErr(lines[3]!.logits, c.logits!) <= 1e-4);
  assert.match(r.stderr, /3 of 4 file\(s\) classified/);
  const text = await i3d([
    'predict',
    join(dir, 'sub'),
    '--weights',
    'random',
    '--labels',
    LABELS,
    '--top',
    '2',
    '--size',
    '64',
    '--resize',
    '64',
  ]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^.*sub\/b\.mp4\t[^,]+ 0\.\d{3}, [^,]+ 0\.\d{3}\n$/);
});

test("multiply-accumulates of I3D: 111 GMAC for one RGB clip of 64 x 224 x 224 (the issue's figure)", () => {
  const m = new I3D();
  assert.ok(Math.abs(i3dMacs(m, 64, 224, 224) / 1e9 - 111.15) < 0.01, String(i3dMacs(m, 64, 224, 224)));
  // Halving the frames halves the work up to the edges of 'SAME' padding.
  assert.ok(Math.abs(i3dMacs(m, 32, 224, 224) / i3dMacs(m, 64, 224, 224) - 0.5) < 0.01);
  m.dispose();
});

test('i3d bench prints ms per clip and GFLOP/s (--json), for the fused and the eager paths', async () => {
  for (const extra of [[], ['--eager']]) {
    const r = await i3d(['bench', '--frames', '8', '--size', '64', '--runs', '2', '--warmup', '1', '--json', ...extra]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { msPerClip: number; gflops: number; gmacs: number; engine: string; runsMs: number[] };
    assert.equal(j.engine, extra.length ? 'eager' : 'fused');
    assert.equal(j.runsMs.length, 2);
    assert.ok(j.msPerClip > 0 && Number.isFinite(j.msPerClip));
    assert.equal(j.gmacs, i3dMacs(new I3D(), 8, 64, 64) / 1e9);
    assert.ok(Math.abs(j.gflops - (2 * j.gmacs) / (j.msPerClip / 1000)) < 1e-6 * j.gflops);
  }
  const bad = await i3d(['bench', '--precision', 'int8']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--precision must be one of fp32, bf16/);
});
