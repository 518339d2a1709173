// A `i3d serve` child process for the serve benchmarks (loopback only), and /proc sampling of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './common.js';

export const BIN = join(ROOT, 'dist/src/cli/main.js');

export interface Child {
  proc: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

/** Starts `i3d serve` on 127.0.0.1 with a free port; resolves once it is ready. */
export function startServe(args: readonly string[], globalArgs: readonly string[] = []): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, ...globalArgs, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      const { url } = JSON.parse(line) as { url: string };
      resolve({
        proc,
        url,
        stop: async () => {
          proc.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((c) => reject(new Error(`i3d serve exited with ${c} before it was ready`)));
  });
}

/** Resident memory (MiB) and open file descriptors of a process. */
export function sample(pid: number): { rssMiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: rss, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : 0;
}
