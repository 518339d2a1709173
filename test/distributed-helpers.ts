// Starting the ranks of a multi-process test on loopback: each a child process with RANK, WORLD_SIZE, MASTER_ADDR
// and a free MASTER_PORT, one thread each, bounded by a time-out after which stragglers are killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../src/distributed/launch.js';

export interface RankResult {
  rank: number;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** ms from the start of the ranks to this one's exit. */
  ms: number;
  /** Date.now() at its exit. */
  endedAt: number;
}

export interface Ranks {
  children: ChildProcess[];
  done: Promise<RankResult[]>;
}

export async function startRanks(
  world: number,
  argv: (rank: number) => string[],
  o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; port?: number } = {},
): Promise<Ranks> {
  const port = o.port ?? (await freePort());
  const from = Date.now();
  const children: ChildProcess[] = [];
  const results: Promise<RankResult>[] = [];
  for (let rank = 0; rank < world; rank++) {
    const child = spawn(process.execPath, argv(rank), {
      cwd: o.cwd,
      env: {
        ...process.env,
        I3D_NUM_THREADS: '1',
        ...o.env,
        RANK: String(rank),
        WORLD_SIZE: String(world),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      },
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    results.push(
      new Promise((resolve) =>
        child.on('close', (status, signal) =>
          resolve({ rank, status, signal, stdout, stderr, ms: Date.now() - from, endedAt: Date.now() }),
        ),
      ),
    );
  }
  const timer = setTimeout(
    () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')),
    o.timeoutMs ?? 60_000,
  );
  const done = Promise.all(results).finally(() => clearTimeout(timer));
  return { children, done };
}

/** The last line of a rank's stdout as JSON. */
export function lastJson<T>(r: RankResult): T {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`rank ${r.rank} (status ${r.status}) printed no JSON: ${r.stdout}\n${r.stderr}`);
  }
}
