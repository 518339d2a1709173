// bench/serve-soak: `i3d serve` under steady load for --minutes (default 10) on loopback, with the server's resident
// memory and open file descriptors sampled every 5 s; prints the slopes after the first fifth (warm-up). Goal: flat.
// Usage: node dist/bench/serve-soak.js [--minutes 10] [--clients 2] [--size 224] [--resize 256]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './common.js';
import { sample, slope, startServe } from './serve-child.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '2' },
    size: { type: 'string', default: '224' },
    resize: { type: 'string', default: '256' },
  },
});
const minutes = Number(values.minutes);
const VIDEOS = join(ROOT, '../shared/data/videos');
const files = ['again', 'bird', 'book', 'brother', 'eat', 'help', 'hungry', 'learn'].map((w) => join(VIDEOS, `asl_${w}.mkv`));
const bodies = files.map((f) => readFileSync(f));
// A few hostile requests mixed in: random bytes and a playlist (4xx), so error paths are soaked too.
const junk = Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 2654435761) >>> 24));
const server = await startServe(['--model', 'random', '--size', values.size, '--resize', values.resize, '--max-queue', '16']);
const pid = server.proc.pid!;
const end = performance.now() + minutes * 60_000;
const counts = { ok: 0, rejected: 0, errors: 0 };
const samples: { t: number; rssMiB: number; fds: number }[] = [];
const t0 = performance.now();
const sampler = setInterval(() => samples.push({ t: (performance.now() - t0) / 60_000, ...sample(pid) }), 5000);
samples.push({ t: 0, ...sample(pid) });
let n = 0;
await Promise.all(
  Array.from({ length: Number(values.clients) }, async () => {
    while (performance.now() < end) {
      const k = n++;
      const body = k % 10 === 9 ? junk : bodies[k % bodies.length]!;
      const r = await fetch(`${server.url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
      await r.arrayBuffer();
      if (r.status === 200) counts.ok++;
      else if (r.status >= 400 && r.status < 500 && body === junk) counts.rejected++;
      else counts.errors++;
    }
  }),
);
clearInterval(sampler);
samples.push({ t: (performance.now() - t0) / 60_000, ...sample(pid) });
const code = await server.stop();
const steady = samples.filter((s) => s.t >= minutes / 5);
const ts = steady.map((s) => s.t);
const first = steady[0]!;
const last = steady[steady.length - 1]!;
console.log(
  [
    `soak: ${minutes} min, ${values.clients} clients, clips ${values.size}x${values.size}: ${counts.ok} videos classified, ${counts.rejected} hostile uploads refused (4xx), ${counts.errors} other errors; exit code ${code}`,
    `resident memory after warm-up: ${first.rssMiB.toFixed(0)} -> ${last.rssMiB.toFixed(0)} MiB, slope ${slope(
      ts,
      steady.map((s) => s.rssMiB),
    ).toFixed(2)} MiB/min (peak ${Math.max(...samples.map((s) => s.rssMiB)).toFixed(0)} MiB)`,
    `open file descriptors: ${first.fds} -> ${last.fds}, slope ${slope(
      ts,
      steady.map((s) => s.fds),
    ).toFixed(2)} per min`,
    `${samples.length} samples every 5 s`,
  ].join('\n'),
);
