// `i3d train` data-parallel on loopback, as child processes with one thread per rank: 2 ranks x batch 2 end with
// the weights of 1 process x batch 4 (frozen backbone, dropout 0), launched by --nproc and by Debian's torchrun;
// only rank 0 writes; the feature cache is filled by both; a rank killed with SIGKILL makes the other exit
// non-zero within --dist-timeout naming it, and `last` still loads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSyntheticActions } from '../src/index.js';
import { freePort } from '../src/distributed/launch.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { BIN, runCli, type CliResult } from './helpers.js';
import { startRanks } from './distributed-helpers.js';

let dir = '';
const ONE_THREAD = { I3D_NUM_THREADS: '1' };
const i3d = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
  runCli(args, { cwd: dir, env: { ...ONE_THREAD, ...env } });

// 16 training videos (divisible by 2 ranks x 2 and by 4: no padding, the same global batches), 3 validation videos
// (not divisible by 2: one rank evaluates 2, the other 1).
const COMMON = [
  ...['--data', 'data', '--train-list', 'train.txt', '--test-list', 'test.txt', '--backbone', 'random', '--width', '0.0625'],
  ...['--segments', '2', '--frames', '8', '--size', '32', '--resize', '40', '--lstm', '16,8', '--lr', '0.05,0.02,0.01'],
  ...['--lr-epochs', '1,2', '--workers', '1', '--no-flip', '--dropout', '0', '--freeze', '--json'],
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'i3d-dist-train-'));
  await writeSyntheticActions(join(dir, 'data'), { perClass: 5, seed: 3, frames: 24 });
  const train: string[] = [];
  const held: string[] = [];
  for (const c of readdirSync(join(dir, 'data')).sort())
    readdirSync(join(dir, 'data', c))
      .sort()
      .forEach((v, i) => (i < 4 ? train : held).push(`${c}/${v}`));
  writeFileSync(join(dir, 'train.txt'), `${train.join('\n')}\n`);
  writeFileSync(join(dir, 'test.txt'), `${held.slice(0, 3).join('\n')}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function weights(out: string, which = 'last'): Map<string, Float32Array> {
  return new Map([...readSafetensors(join(dir, out, which, 'model.safetensors')).tensors].map(([n, t]) => [n, t.data]));
}

/** The largest difference of any tensor relative to its largest value in `b`. */
function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    let d = 0;
    let m = 0;
    for (let i = 0; i < x.length; i++) {
      d = Math.max(d, Math.abs(x[i]! - y[i]!));
      m = Math.max(m, Math.abs(y[i]!));
    }
    worst = Math.max(worst, d / Math.max(m, 1e-12));
  }
  return worst;
}

interface EpochLine {
  type: string;
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
}
const epochs = (out: string): EpochLine[] =>
  readFileSync(join(dir, out, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochLine)
    .filter((l) => l.type === 'epoch');

function sameCurves(a: EpochLine[], b: EpochLine[]): void {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => {
    const y = b[i]!;
    assert.equal(x.accuracy, y.accuracy, `epoch ${x.epoch} training accuracy`);
    assert.equal(x.valAccuracy, y.valAccuracy, `epoch ${x.epoch} validation accuracy`);
    assert.ok(Math.abs(x.loss - y.loss) < 1e-5 && Math.abs(x.valLoss - y.valLoss) < 1e-5, `epoch ${x.epoch} losses`);
  });
}

test('2 ranks x batch 2 (--nproc 2) end with the weights of 1 process x batch 4 within 1e-5; rank 0 writes', async () => {
  const one = await i3d(['train', ...COMMON, '--batch', '4', '--epochs', '2', '--out', 'one']);
  assert.equal(one.status, 0, one.stderr);
  // The same backbone and clips: this run reads the features 'one' computed.
  const small = await i3d(['train', ...COMMON, '--batch', '2', '--epochs', '2', '--out', 'small', '--feature-cache', 'one/features']);
  assert.equal(small.status, 0, small.stderr);
  const two = await i3d(['train', ...COMMON, '--batch', '2', '--epochs', '2', '--out', 'two', '--nproc', '2'], {});
  assert.equal(two.status, 0, two.stderr);
  const lines = two.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `only rank 0 prints: ${two.stdout}`);
  assert.equal((JSON.parse(lines[0]!) as { epochs: number }).epochs, 2);

  const rel = maxRelDiff(weights('two'), weights('one'));
  assert.ok(rel <= 1e-5, `2 x 2 against 1 x 4: ${rel}`);
  assert.ok(maxRelDiff(weights('two', 'last'), weights('two', 'best')) > 1e-4, 'the weights moved between epochs 1 and 2');
  assert.ok(maxRelDiff(weights('small'), weights('one')) > 1e-3, 'batch 2 on one process is another training (the test can tell)');
  sameCurves(epochs('two'), epochs('one'));
  assert.equal(epochs('two').length, 2, 'one log line per epoch: only rank 0 logs');
  // The feature cache holds every video once, computed by the two ranks' shares.
  const [key] = readdirSync(join(dir, 'two/features'));
  const manifest = JSON.parse(readFileSync(join(dir, 'two/features', key!, 'manifest.json'), 'utf8')) as { videos: unknown[] };
  assert.equal(manifest.videos.length, 19);
});

test("Debian's torchrun (python3 -m torch.distributed.run --no_python) runs the same training", async () => {
  const port = await freePort();
  const r = await new Promise<CliResult>((resolve) => {
    // --redirects 2 --tee 2: Debian's torch 1.13 on Python 3.11 cannot parse the default '0' (Std.from_str returns
    // None: Python 3.11 no longer iterates a zero IntFlag member), so stderr is teed through a log file instead.
    const args = [
      '-m',
      'torch.distributed.run',
      '--nproc_per_node',
      '2',
      '--master_port',
      String(port),
      '--redirects',
      '2',
      '--tee',
      '2',
      '--no_python',
    ];
    const p = spawn(
      '/usr/bin/python3',
      [
        ...args,
        process.execPath,
        BIN,
        'train',
        ...COMMON,
        '--batch',
        '2',
        '--epochs',
        '2',
        '--out',
        'torchrun',
        '--feature-cache',
        'two/features',
      ],
      {
        cwd: dir,
        env: { ...process.env, OMP_NUM_THREADS: '1' },
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'one/log.jsonl')), 'the first test ran');
  sameCurves(epochs('torchrun'), epochs('one'));
  assert.ok(maxRelDiff(weights('torchrun'), weights('one')) <= 1e-5);
});

/** ||a - b|| / ||b|| over every weight of the model (one vector): near-zero tensors such as untouched betas do not dominate. */
function relNorm(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let d = 0;
  let m = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) {
      d += (x[i]! - y[i]!) ** 2;
      m += y[i]! ** 2;
    }
  }
  return Math.sqrt(d / m);
}

test('batch norm in training mode (backbone not frozen): per-rank statistics train differently, --sync-batch-norm as one process', async () => {
  // 8 videos, 2 global steps of 4 clips: 1 process x batch 4 against 2 ranks x batch 2, per rank and synchronised.
  const eight = readFileSync(join(dir, 'train.txt'), 'utf8')
    .trim()
    .split('\n')
    .filter((_, i) => i % 4 < 2);
  writeFileSync(join(dir, 'train8.txt'), `${eight.join('\n')}\n`);
  const args = [...COMMON.filter((a) => a !== '--freeze'), '--train-list', 'train8.txt', '--epochs', '1'];
  const one = await i3d(['train', ...args, '--batch', '4', '--out', 'bn-one']);
  assert.equal(one.status, 0, one.stderr);
  const local = await i3d(['train', ...args, '--batch', '2', '--out', 'bn-local', '--nproc', '2']);
  assert.equal(local.status, 0, local.stderr);
  const synced = await i3d(['train', ...args, '--batch', '2', '--out', 'bn-sync', '--nproc', '2', '--sync-batch-norm']);
  assert.equal(synced.status, 0, synced.stderr);
  // Each rank normalises its 2 clips with their own statistics: another training (16.6% apart here).
  const l = relNorm(weights('bn-local'), weights('bn-one'));
  assert.ok(l > 1e-2, `per-rank batch norm differs from one process (${l})`);
  // The global batch's statistics: one process's weights up to float rounding (1.3e-6 here; one process on 1 and on
  // 2 threads differs by 9e-8 after these 2 steps, and such rounding grows about 100x a step in this tiny network).
  const s = relNorm(weights('bn-sync'), weights('bn-one'));
  assert.ok(s < 1e-4, `SyncBatchNorm trains as one process (${s})`);
});

test('kill -9 of rank 1 mid-training: rank 0 exits non-zero within --dist-timeout naming rank 1; last loads', async () => {
  const ranks = await startRanks(
    2,
    () => [BIN, 'train', ...COMMON, '--batch', '2', '--epochs', '100000', '--out', 'killed', '--dist-timeout', '10'],
    { cwd: dir, timeoutMs: 90_000 },
  );
  const state = join(dir, 'killed/last/state.json');
  for (let i = 0; i < 600 && !(existsSync(state) && epochs('killed').length >= 2); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(state), 'rank 0 saved last');
  const killedAt = Date.now();
  ranks.children[1]!.kill('SIGKILL');
  const [r0, r1] = await ranks.done;
  assert.equal(r1!.signal, 'SIGKILL');
  assert.notEqual(r0!.status, 0, 'rank 0 fails');
  assert.equal(r0!.signal, null, 'rank 0 exits by itself');
  assert.match(r0!.stderr, /rank 1 is lost/);
  assert.match(r0!.stderr, /--dist-timeout 10 s/);
  const took = r0!.endedAt - killedAt;
  assert.ok(took < 10_000, `rank 0 exited ${took} ms after the kill (--dist-timeout 10 s)`);
  const ev = await i3d(['evaluate', '--model', 'killed/last', '--data', 'data', '--workers', '1', '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal((JSON.parse(ev.stdout.trim().split('\n').pop()!) as { count: number }).count, 20);
});

test('i3d evaluate and i3d extract share the videos over 2 ranks: the same metrics, every video computed once', async () => {
  assert.ok(existsSync(join(dir, 'one/last/state.json')), 'the first test ran');
  const evalArgs = ['evaluate', '--model', 'one/last', '--data', 'data', '--workers', '1', '--json'];
  const e1 = await i3d(evalArgs);
  const e2 = await i3d([...evalArgs, '--nproc', '2']);
  assert.equal(e1.status, 0, e1.stderr);
  assert.equal(e2.status, 0, e2.stderr);
  assert.equal(e2.stdout.trim().split('\n').length, 1, 'rank 0 reports');
  const m = JSON.parse(e2.stdout) as { count: number; confusion: number[][] };
  assert.equal(m.count, 20, 'every video counted once');
  assert.deepEqual(m, JSON.parse(e1.stdout), 'the metrics of one process over the same videos');

  const ex = ['extract', 'data', '--backbone', 'random', '--width', '0.0625', '--segments', '2', '--frames', '8'];
  const exArgs = [...ex, '--size', '32', '--resize', '40', '--workers', '1', '--json'];
  const x1 = await i3d([...exArgs, '--out', 'fx1']);
  const x2 = await i3d([...exArgs, '--out', 'fx2', '--nproc', '2']);
  assert.equal(x1.status, 0, x1.stderr);
  assert.equal(x2.status, 0, x2.stderr);
  type X = { computed: number; reused: number; dir: string; videos: { sha256: string; features: string }[] };
  const [a, b] = [x1, x2].map((r) => JSON.parse(r.stdout.trim().split('\n').pop()!) as X);
  assert.equal(b!.computed, 20, 'each video computed by one of the ranks');
  assert.equal(b!.reused, 0);
  assert.deepEqual(
    b!.videos.map((v) => v.sha256),
    a!.videos.map((v) => v.sha256),
  );
  for (const [i, v] of b!.videos.entries())
    assert.deepEqual(readFileSync(join(dir, v.features)), readFileSync(join(dir, a!.videos[i]!.features)), `features of ${v.sha256}`);
});

test('an unreadable video leaves one rank a batch short: the ranks stop the epoch together, nothing hangs', async () => {
  cpSync(join(dir, 'data'), join(dir, 'data-bad'), { recursive: true });
  writeFileSync(join(dir, 'data-bad/move_up/zz_broken.avi'), 'not a video');
  const list = `${readFileSync(join(dir, 'train.txt'), 'utf8')}move_up/zz_broken.avi\n`;
  writeFileSync(join(dir, 'train-bad.txt'), list);
  const args = COMMON.map((a) => (a === 'data' ? 'data-bad' : a === 'train.txt' ? 'train-bad.txt' : a));
  const r = await i3d([
    'train',
    ...args,
    '--no-feature-cache',
    '--batch',
    '2',
    '--epochs',
    '1',
    '--out',
    'bad',
    '--nproc',
    '2',
    '--dist-timeout',
    '30',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /skipping .*zz_broken\.avi/);
  assert.deepEqual(
    epochs('bad').map((e) => e.epoch),
    [1],
  );
});
