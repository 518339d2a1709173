// The training commands on a small generated dataset: i3d init, train (config file + flag overrides, --json,
// --resume), evaluate (--json, --report), predict --model (whole video and --window/--stride), and bad parameters.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSyntheticActions, writeVideo, syntheticFrames } from '../src/index.js';
import { BIN, type CliResult, runCli, runCliAll, TINY_MODEL, TINY_RECIPE } from './helpers.js';

let dir = '';

const i3d = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: dir, env: { I3D_CACHE_DIR: join(dir, 'cache') } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'i3d-train-cli-'));
  await writeSyntheticActions(join(dir, 'train'), { perClass: 5, seed: 3, frames: 24 });
  await writeSyntheticActions(join(dir, 'test'), { perClass: 2, seed: 4, frames: 24 });
  // A longer video for windowed prediction: 3 s at 25 fps.
  await writeVideo(join(dir, 'long.avi'), syntheticFrames('move_left', 9, 64, 75), { width: 64, height: 64 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = TINY_MODEL;
const SMALL2 = TINY_RECIPE;

test('i3d init writes a commented parameters file that train reads; flags override it; resume continues', async () => {
  let r = await i3d('init', 'params.yaml');
  assert.equal(r.status, 0, r.stderr);
  const yaml = readFileSync(join(dir, 'params.yaml'), 'utf8');
  assert.match(yaml, /^# learning rates: initial, reduced, final\nlr: \[0\.01, 0\.001, 0\.0001\]$/m);
  assert.match(yaml, /^lrEpochs: \[10, 15\]$/m);
  r = await i3d('init', 'params.yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /params\.yaml exists; pass --force/);
  writeFileSync(join(dir, 'params.yaml'), yaml.replace(/^data: .*$/m, 'data: train').replace(/^epochs: .*$/m, 'epochs: 2'));
  r = await i3d('train', '--config', 'params.yaml', '--out', 'run', ...SMALL, ...SMALL2, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { epochs: number; bestEpoch: number; report: string; out: string };
  assert.equal(j.epochs, 2);
  assert.ok(existsSync(join(dir, j.report)), j.report);
  const saved = JSON.parse(readFileSync(join(dir, 'run/params.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(saved.epochs, 2, 'from the file');
  assert.equal(saved.width, 0.0625, 'from a flag');
  assert.deepEqual(saved.lr, [0.05, 0.02, 0.01]);
  assert.equal(saved.flip, false);
  const best = JSON.parse(readFileSync(join(dir, 'run/best/state.json'), 'utf8')) as { params: { width: number } };
  assert.equal(best.params.width, 0.0625, 'the effective parameters are saved beside the checkpoint');
  r = await i3d('train', '--config', 'params.yaml', '--out', 'run', ...SMALL, ...SMALL2, '--epochs', '3', '--resume');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /epoch 3: loss/);
  assert.doesNotMatch(r.stdout, /epoch 1: loss/, 'epochs 1 and 2 are not run again');
  const log = readFileSync(join(dir, 'run/log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; epoch?: number });
  assert.deepEqual(
    log.filter((l) => l.type === 'epoch').map((l) => l.epoch),
    [1, 2, 3],
  );
  assert.ok(log.some((l) => l.type === 'resume'));
  // The report on demand, from the log: three epochs, the last confusion matrix.
  rmSync(join(dir, 'run/report.html'));
  r = await i3d('report', 'run');
  assert.equal(r.status, 0, r.stderr);
  const html = readFileSync(join(dir, 'run/report.html'), 'utf8');
  assert.match(html, /Validation confusion matrix of epoch 3; 3 epochs logged/);
  assert.equal((html.match(/<svg/g) ?? []).length, 4);
});

test('--classes trains on the named class folders, in that order', async () => {
  const r = await i3d(
    'train',
    '--data',
    'train',
    '--out',
    'two',
    '--classes',
    'move_up,move_down',
    ...SMALL,
    ...SMALL2,
    '--epochs',
    '1',
    '--json',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'two/classes.txt'), 'utf8'), 'move_up\nmove_down\n');
  const state = JSON.parse(readFileSync(join(dir, 'two/best/state.json'), 'utf8')) as { model: { classes: number; labels: string[] } };
  assert.deepEqual(state.model.labels, ['move_up', 'move_down']);
});

test('i3d evaluate and predict --model use the trained model', async () => {
  let r = await i3d('evaluate', '--model', 'run', '--data', 'test', '--json', '--report', 'eval');
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { top1: number; top5: number; meanClassAccuracy: number; count: number; confusion: number[][] };
  assert.equal(e.count, 8);
  assert.equal(e.top5, 1, 'top-5 of 4 classes is always right');
  assert.ok(e.top1 >= 0 && e.top1 <= 1 && e.meanClassAccuracy >= 0 && e.meanClassAccuracy <= 1);
  assert.equal(
    e.confusion.flat().reduce((a, b) => a + b, 0),
    8,
  );
  assert.ok(existsSync(join(dir, 'eval/report.html')));
  // --max-memory reaches the backbone's inference: the same metrics under a budget that holds the segments, and a
  // budget too small for any chunk is the catalogue's error (exit 5) naming it and what to change.
  r = await i3d('evaluate', '--model', 'run', '--data', 'test', '--json', '--max-memory', '600');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { confusion: number[][] }).confusion, e.confusion);
  r = await i3d('evaluate', '--model', 'run', '--data', 'test', '--max-memory', '1');
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /--max-memory 1 MB is too small for 32x32 frames on the (fused|eager) engine.*raise --max-memory to \d+ MB/);
  r = await i3d('evaluate', '--model', 'run', '--data', 'test');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /rgb, 8 videos: top-1 \d+\.\d%, top-5 100\.0%, mean class accuracy/);
  r = await i3d('predict', '--model', 'run', join(dir, 'test/move_up/move_up_000.avi'), '--json', '--top', '2');
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { top: { label: string; probability: number }[] };
  assert.equal(p.top.length, 2);
  assert.ok(['move_down', 'move_left', 'move_right', 'move_up'].includes(p.top[0]!.label));
  r = await i3d('predict', '--model', 'run', 'long.avi', '--window', '1', '--stride', '0.4', '--json');
  assert.equal(r.status, 0, r.stderr);
  const w = (JSON.parse(r.stdout) as { windows: { start: number; end: number; top: unknown[] }[] }).windows;
  assert.deepEqual(
    w.map((x) => [x.start, x.end]),
    [
      [0, 1],
      [0.4, 1.4],
      [0.8, 1.8],
      [1.2, 2.2],
      [1.6, 2.6],
      [2, 3],
    ],
  );
});

test('the flow stream trains on TV-L1 flow, and two-stream evaluation and prediction average the logits', async () => {
  let r = await i3d('train', '--data', 'train', '--out', 'flowrun', '--stream', 'flow', ...SMALL, ...SMALL2, '--epochs', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const state = JSON.parse(readFileSync(join(dir, 'flowrun/best/state.json'), 'utf8')) as { model: { stream: string } };
  assert.equal(state.model.stream, 'flow');
  r = await i3d('evaluate', '--model', 'run', '--flow-model', 'flowrun', '--data', 'test', '--json');
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { streams: string[]; count: number };
  assert.deepEqual(e.streams, ['rgb', 'flow']);
  assert.equal(e.count, 8);
  const video = join(dir, 'test/move_left/move_left_000.avi');
  const one = async (...extra: string[]) => {
    const x = await i3d('predict', '--model', ...extra, video, '--json', '--top', '4');
    assert.equal(x.status, 0, x.stderr);
    return new Map((JSON.parse(x.stdout) as { top: { label: string; logit: number }[] }).top.map((t) => [t.label, t.logit]));
  };
  const [rgb, flow, both] = [await one('run'), await one('flowrun'), await one('run', '--flow-model', 'flowrun')];
  for (const [label, logit] of both) assert.ok(Math.abs(logit - (rgb.get(label)! + flow.get(label)!) / 2) < 1e-5, label);
  // A frozen flow backbone trains the head on cached flow features.
  r = await i3d(
    'train',
    '--data',
    'train',
    '--out',
    'flowfrozen',
    '--stream',
    'flow',
    '--freeze',
    ...SMALL,
    ...SMALL2,
    '--epochs',
    '1',
    '--json',
  );
  assert.equal(r.status, 0, r.stderr);
  const cache = join(dir, 'flowfrozen/features');
  const key = readdirSync(cache).find((k) => existsSync(join(cache, k, 'manifest.json')));
  assert.ok(key, 'a feature cache with a manifest');
  const manifest = JSON.parse(readFileSync(join(cache, key, 'manifest.json'), 'utf8')) as { parameters?: { stream?: string } };
  assert.equal(manifest.parameters?.stream, 'flow');
});

test('a training process killed mid-epoch (SIGKILL) and resumed ends with the same weights as an uninterrupted run', async () => {
  const args = ['train', '--data', 'train', ...SMALL, ...SMALL2, '--epochs', '3'];
  const straight = await i3d(...args, '--out', 'straight');
  assert.equal(straight.status, 0, straight.stderr);
  // Start the same run and kill it hard while epoch 2 is under way (after epoch 1's checkpoint).
  const killed = await new Promise<{ signal: NodeJS.Signals | null; stdout: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args, '--out', 'killed'], {
      cwd: dir,
      env: { ...process.env, I3D_CACHE_DIR: join(dir, 'cache') },
    });
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/epoch 1: loss/.test(stdout)) setTimeout(() => p.kill('SIGKILL'), 300);
    });
    p.on('close', (_code, signal) => resolve({ signal, stdout }));
  });
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(existsSync(join(dir, 'killed/.i3d-train.lock')), 'a killed run leaves its lock; the resume takes it over (its pid is gone)');
  assert.doesNotMatch(killed.stdout, /epoch 3: loss/, 'killed before the end');
  const resumed = await i3d(...args, '--out', 'killed', '--resume');
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /epoch 3: loss/);
  assert.deepEqual(readFileSync(join(dir, 'killed/last/model.safetensors')), readFileSync(join(dir, 'straight/last/model.safetensors')));
  assert.deepEqual(
    readFileSync(join(dir, 'killed/last/optimizer.safetensors')),
    readFileSync(join(dir, 'straight/last/optimizer.safetensors')),
  );
});

test('a second i3d train into a folder in use stops at once with I3D_LOCKED; the lock goes at exit, on SIGINT or an error', async () => {
  const args = ['train', '--data', 'train', ...SMALL, ...SMALL2, '--out', 'busy'];
  const first = spawn(process.execPath, [BIN, ...args, '--epochs', '50'], {
    cwd: dir,
    env: { ...process.env, I3D_CACHE_DIR: join(dir, 'cache') },
  });
  let stdout = '';
  const started = new Promise<void>((resolve) =>
    first.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/batches per epoch/.test(stdout)) resolve();
    }),
  );
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    first.on('close', (code, signal) => resolve({ code, signal })),
  );
  await started;
  const second = await i3d(...args, '--epochs', '1');
  assert.equal(second.status, 5, 'the catalogue exit code of I3D_LOCKED (a resource)');
  assert.match(second.stderr, new RegExp(`the training output folder busy is in use by process ${first.pid} \\(i3d train, since `));
  assert.doesNotMatch(second.stdout, /epoch 1/, 'refused before training');
  first.kill('SIGINT');
  const end = await ended;
  assert.equal(end.signal, 'SIGINT');
  assert.ok(!existsSync(join(dir, 'busy/.i3d-train.lock')), 'SIGINT released the lock');
  // A run that fails after taking the lock releases it too.
  mkdirSync(join(dir, 'one-class/move_up'), { recursive: true });
  copyFileSync(join(dir, 'train/move_up', readdirSync(join(dir, 'train/move_up'))[0]!), join(dir, 'one-class/move_up/a.avi'));
  const failed = await i3d('train', '--data', 'one-class', ...SMALL, ...SMALL2, '--out', 'busy');
  assert.notEqual(failed.status, 0);
  assert.match(failed.stderr, /at least 2 classes/);
  assert.ok(!existsSync(join(dir, 'busy/.i3d-train.lock')), 'an error released the lock');
});

test('bad parameters and models are refused with the field or file named', async () => {
  writeFileSync(join(dir, 'bad.yaml'), 'data: train\nout: runbad\nlr: [0.1, 0.01]\nsegmentz: 3\n');
  const refused: [string[], number, RegExp][] = [
    [['train', '--config', 'bad.yaml'], 3, /bad\.yaml \(with command-line overrides\): 'lr': .*; '\(top\)': Unrecognized key: "segmentz"/],
    [['train', '--data', 'train'], 2, /--out is required/],
    [['train', '--data', 'train', '--out', 'r2', '--size', '64', '--resize', '48'], 3, /'resize' \(48\) must be at least 'size' \(64\)/],
    [['train', '--data', 'train', '--out', 'r3', '--lr', '0.1,0.2'], 2, /--lr takes 3 comma-separated numbers, got '0\.1,0\.2'/],
    [
      ['train', '--data', 'train', '--out', 'r4', '--classes', 'move_up,nope'],
      3,
      /train: no class folder for 'nope' \(found: move_down, move_left, move_right, move_up\)/,
    ],
    [['report', 'nowhere'], 3, /nowhere: not a training folder/],
    [['evaluate', '--model', 'nowhere', '--data', 'test'], 4, /nowhere: not a trained model/],
    [['predict', 'long.avi', '--weights', 'random', '--flow-model', 'x'], 2, /--flow-model needs --model/],
    [['predict', 'missing.avi', '--weights', 'random', '--window', '1'], 3, /missing\.avi: /],
  ];
  // Without --model, --window gives windows of the I3D's streamed feature map (75 frames at 25 fps: 3 windows of 1 s).
  const windowed = ['predict', 'long.avi', '--weights', 'random', '--window', '1', '--json'];
  const results = await runCliAll([...refused.map(([args]) => args), windowed], { cwd: dir, env: { I3D_CACHE_DIR: join(dir, 'cache') } });
  refused.forEach(([args, status, message], i) => {
    assert.equal(results[i]!.status, status, `${args.join(' ')}: ${results[i]!.stderr}`);
    assert.match(results[i]!.stderr, message);
  });
  const r = results[refused.length]!;
  assert.equal(r.status, 0, r.stderr);
  const w = (JSON.parse(r.stdout) as { windows: { start: number; end: number; top: unknown[] }[] }).windows;
  assert.deepEqual(
    w.map((x) => [x.start, x.end, x.top.length]),
    [
      [0, 1, 5],
      [1, 2, 5],
      [2, 3, 5],
    ],
  );
});
