// `i3d <command> --nproc N`: N local ranks without Python, as `torchrun --nproc_per_node N --no_python` would start
// them: the same command line in N child processes with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT; threads per rank default to cores / N. When a rank fails, the
// others get --dist-timeout (plus a grace period) to notice and exit before they are killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { threadsPerRank } from './config.js';
import { DistributedError } from './errors.js';

/** A TCP port free on the loopback interface now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('freePort: no port'))));
    });
  });
}

/** argv without `--nproc N` / `--nproc=N`. */
export function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc') i++;
    else if (!argv[i]!.startsWith('--nproc=')) out.push(argv[i]!);
  }
  return out;
}

export interface LaunchOptions {
  nproc: number;
  /** The command to run in each rank (default: this process's script and arguments, without --nproc). */
  argv?: string[];
  timeoutSec: number;
  env?: NodeJS.ProcessEnv;
  /** Called with each rank's process as it starts. */
  onStart?: (rank: number, child: ChildProcess) => void;
}

/** Runs the ranks; resolves with the exit code to use (0, or the first failed rank's code). */
export async function launchLocal(o: LaunchOptions): Promise<{ code: number; failedRank: number | null }> {
  if (!Number.isInteger(o.nproc) || o.nproc < 1)
    throw new DistributedError('I3D_DIST_CONFIG', `--nproc must be a positive integer, got ${o.nproc}`);
  const env = o.env ?? process.env;
  if (env.WORLD_SIZE && Number(env.WORLD_SIZE) > 1)
    throw new DistributedError('I3D_DIST_CONFIG', `--nproc cannot be used inside a distributed launch (WORLD_SIZE=${env.WORLD_SIZE})`);
  const port = await freePort();
  const argv = o.argv ?? [process.argv[1]!, ...withoutNproc(process.argv.slice(2))];
  const threads = env.I3D_NUM_THREADS ?? env.OMP_NUM_THREADS ?? String(threadsPerRank(o.nproc));
  const children: ChildProcess[] = [];
  const exits: Promise<{ rank: number; code: number }>[] = [];
  for (let rank = 0; rank < o.nproc; rank++) {
    const child = spawn(process.execPath, argv, {
      stdio: 'inherit',
      env: {
        ...env,
        RANK: String(rank),
        WORLD_SIZE: String(o.nproc),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(o.nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        I3D_NUM_THREADS: threads,
      },
    });
    children.push(child);
    o.onStart?.(rank, child);
    exits.push(
      new Promise((resolve) =>
        child.on('exit', (code, signal) => resolve({ rank, code: code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1) })),
      ),
    );
  }
  const forward = (sig: NodeJS.Signals) => children.forEach((c) => c.exitCode === null && c.kill(sig));
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let failed: { rank: number; code: number } | null = null;
  let killer: NodeJS.Timeout | null = null;
  try {
    await Promise.all(
      exits.map((p) =>
        p.then((r) => {
          if (r.code !== 0 && !failed) {
            failed = r;
            // The others notice within --dist-timeout; after that (and a grace period) they are stopped.
            killer = setTimeout(() => forward('SIGKILL'), (o.timeoutSec + 30) * 1000);
            killer.unref();
          }
        }),
      ),
    );
  } finally {
    if (killer) clearTimeout(killer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
  const f = failed as { rank: number; code: number } | null;
  return f ? { code: f.code, failedRank: f.rank } : { code: 0, failedRank: null };
}
