// bench/serve: `i3d serve` under load on loopback (autocannon, bounded in time): videos/s and p50/p99 latency of
// POST /v1/predict at 1, 2, 4 and 8 concurrent clients, next to `i3d predict` over the same files in the same run
// (the goal: the service's best throughput >= 90% of `i3d predict`'s). Random weights (the speed does not depend on
// them); the 8 ASL videos of ../shared/data/videos by default.
// Usage: node dist/bench/serve.js [--seconds 20] [--concurrency 1,2,4,8] [--size 224] [--resize 256] [--repeat 2] [files...]
import { readFileSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ROOT } from './common.js';
import { BIN, startServe } from './serve-child.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '1,2,4,8' },
    size: { type: 'string', default: '224' },
    resize: { type: 'string', default: '256' },
    repeat: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const levels = values.concurrency.split(',').map(Number);
const size = values.size;
const resize = values.resize;
const VIDEOS = join(ROOT, '../shared/data/videos');
const files = positionals.length
  ? positionals
  : ['again', 'bird', 'book', 'brother', 'eat', 'help', 'hungry', 'learn'].map((w) => join(VIDEOS, `asl_${w}.mkv`));

function predictCli(): Promise<{ videos: number; seconds: number }> {
  const list = Array.from({ length: Number(values.repeat) }, () => files).flat();
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [BIN, 'predict', ...list, '--weights', 'random', '--size', size, '--resize', resize, '--json'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`i3d predict failed: ${err}`));
      else resolve({ videos: list.length, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

const bodies = files.map((f) => readFileSync(f));
const server = await startServe(['--model', 'random', '--size', size, '--resize', resize, '--max-queue', '16']);
const rows: { clients: number; videosPerSec: number; p50: number; p99: number; ok: number; errors: number }[] = [];
try {
  // Warm the plans for the clip shapes of these files.
  for (const b of bodies)
    await fetch(`${server.url}/v1/predict`, { method: 'POST', body: b, headers: { 'content-type': 'application/octet-stream' } });
  for (const c of levels) {
    const r = await autocannon({
      url: server.url,
      connections: c,
      duration: seconds,
      timeout: 300,
      requests: bodies.map((body) => ({
        method: 'POST' as const,
        path: '/v1/predict',
        body,
        headers: { 'content-type': 'application/octet-stream' },
      })),
    });
    rows.push({
      clients: c,
      videosPerSec: r['2xx'] / r.duration,
      p50: r.latency.p50 / 1000,
      p99: r.latency.p99 / 1000,
      ok: r['2xx'],
      errors: r.non2xx + r.errors + r.timeouts,
    });
    console.error(`${c} client(s): ${r['2xx']} videos in ${r.duration} s`);
  }
} finally {
  await server.stop();
}
const cli = await predictCli();
const cliRate = cli.videos / cli.seconds;
const best = Math.max(...rows.map((r) => r.videosPerSec));
const lines = [
  `CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; clips ${size}x${size} (shorter side ${resize}), random weights`,
  '',
  '| clients | videos/s | p50 s | p99 s | ok | errors |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.clients} | ${r.videosPerSec.toFixed(2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.ok} | ${r.errors} |`),
  `| i3d predict (${cli.videos} files, whole run incl. start) | ${cliRate.toFixed(2)} | - | - | ${cli.videos} | 0 |`,
  '',
  `best service throughput / i3d predict: ${((100 * best) / cliRate).toFixed(0)}% (goal >= 90%)`,
];
console.log(lines.join('\n'));
mkdirSync(join(ROOT, 'bench/out'), { recursive: true });
writeFileSync(join(ROOT, 'bench/out/serve.json'), JSON.stringify({ size, resize, seconds, rows, cli, cliRate }, null, 2));
