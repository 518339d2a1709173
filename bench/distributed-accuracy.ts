// Issue 14's accuracy band: the demo's generated motion data and recipe (`demoParams`: I3D at an eighth of the
// channels, 2 segments x 8 frames of 32x32, LSTM 64 -> 32, lr 0.05/0.02/0.005) trained by one process and by 2 ranks
// launched with Debian's torchrun (`python3 -m torch.distributed.run --no_python`), with batch norm per rank and with
// SyncBatchNorm, for several training seeds on the same data. For each run: validation accuracy at the last and the
// best epoch, the held-out test accuracy of the run's best checkpoint (`i3d evaluate`, as the demo reports it), and
// seconds per epoch. The global batch is the demo's 8 everywhere (2 ranks x 4); `one4` (one process x batch 4) is the
// control for batch norm over 4 clips.
// Run: node dist/bench/distributed-accuracy.js [--seeds 1,2] [--epochs 80] [--configs one,ranks,sync,one4] [--videos 100]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/distributed/launch.js';
import { demoParams } from '../src/train/demo.js';
import { writeSyntheticActions } from '../src/data/synthetic-actions.js';
import { log, positive, ROOT } from './common.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const list = (name: string, dflt: string) => (flag(name) ?? dflt).split(',').filter(Boolean);
const seeds = list('seeds', '1,2').map((s) => positive('seeds', s));
const epochs = positive('epochs', flag('epochs') ?? '80');
const videos = positive('videos', flag('videos') ?? '100');
const CONFIGS = ['one', 'ranks', 'sync', 'one4'] as const;
type Config = (typeof CONFIGS)[number];
const configs = list('configs', 'one,ranks,sync') as Config[];
for (const c of configs) if (!CONFIGS.includes(c)) throw new Error(`--configs: one of ${CONFIGS.join(', ')}, got ${c}`);

const BIN = join(ROOT, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'i3d-dist-acc-'));

function run(cmd: string, argv: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`)),
    );
  });
}

interface Epoch {
  type: string;
  epoch: number;
  valAccuracy: number;
  seconds: number;
}

async function train(config: Config, seed: number): Promise<string> {
  const out = `${config}-seed${seed}`;
  const common = ['train', '--config', 'params.json', '--out', out, '--seed', String(seed), '--epochs', String(epochs), '--json'];
  if (config === 'one' || config === 'one4') {
    await run(process.execPath, [BIN, '--threads', '2', ...common, '--batch', config === 'one' ? '8' : '4']);
    return out;
  }
  // Python 3.11's torchrun needs --redirects/--tee (see test/distributed-train.test.ts).
  const torchrun = ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', String(await freePort())];
  await run(
    '/usr/bin/python3',
    [
      ...torchrun,
      ...['--redirects', '2', '--tee', '2', '--no_python', process.execPath, BIN, '--threads', '1', ...common, '--batch', '4'],
      ...(config === 'sync' ? ['--sync-batch-norm'] : []),
    ],
    { OMP_NUM_THREADS: '1' },
  );
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
try {
  log(`generating the demo's data (${videos} training/validation and 25 test videos per class)...`);
  await writeSyntheticActions(join(dir, 'data/train'), { perClass: videos, seed: 1 });
  await writeSyntheticActions(join(dir, 'data/test'), { perClass: 25, seed: 1 + 1_000_003 });
  writeFileSync(join(dir, 'params.json'), JSON.stringify({ ...demoParams(dir), data: 'data/train' }));
  const rows: string[] = [];
  for (const seed of seeds)
    for (const config of configs) {
      log(`${config}, seed ${seed}: ${epochs} epochs...`);
      const out = await train(config, seed);
      const lines = readFileSync(join(dir, out, 'log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Epoch)
        .filter((l) => l.type === 'epoch');
      const last = lines.at(-1)!;
      const best = Math.max(...lines.map((l) => l.valAccuracy));
      const ev = JSON.parse(await run(process.execPath, [BIN, 'evaluate', '--model', out, '--data', 'data/test', '--json'])) as {
        top1: number;
      };
      const perEpoch = lines.reduce((a, l) => a + l.seconds, 0) / lines.length;
      rows.push(`| ${config} | ${seed} | ${pct(last.valAccuracy)} | ${pct(best)} | ${pct(ev.top1)} | ${perEpoch.toFixed(1)} |`);
      log(rows.at(-1)!);
    }
  console.log(`\n| configuration | seed | validation, last epoch | validation, best | test top-1 (best checkpoint) | s per epoch |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  console.log(
    `\none: 1 process x batch 8 (2 threads); ranks: torchrun 2 ranks x batch 4 (1 thread each), batch norm per rank; ` +
      `sync: the same with --sync-batch-norm; one4: 1 process x batch 4. ${epochs} epochs, ${4 * videos} videos (20% validation).`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
