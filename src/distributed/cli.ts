// The options every distributed command shares (--nproc, --dist-timeout) and what a command does with them:
// start the local ranks, or join the group the environment describes, with threads per rank set.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { setNumThreads } from '../tensor/runtime.js';
import { DEFAULT_DIST_TIMEOUT_SEC, distConfig, isDistributedEnv, threadsPerRank } from './config.js';
import { launchLocal } from './launch.js';
import { ProcessGroup } from './process-group.js';

export interface DistCliOptions {
  nproc?: number;
  distTimeout?: number;
}

function positive(flag: string, integer: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'.`);
    return n;
  };
}

/** Adds --nproc and --dist-timeout to a command. */
export function distributedOptions(cmd: Command): Command {
  return cmd
    .option(
      '--nproc <n>',
      'start n local ranks (data-parallel, without torchrun); threads per rank default to cores / n',
      positive('--nproc', true),
    )
    .option(
      '--dist-timeout <s>',
      `with several ranks: seconds a collective may wait before every rank gives up, naming the lost rank (default ${DEFAULT_DIST_TIMEOUT_SEC})`,
      positive('--dist-timeout', false),
    );
}

/**
 * What a command runs as: 'launched' (this process started --nproc local ranks; they have finished and the exit
 * code is set), a ProcessGroup (this process is one rank of several), or null (one process, as before).
 */
export async function distributedRole(opts: object, cmd: Command): Promise<'launched' | ProcessGroup | null> {
  const o = opts as DistCliOptions; // a command's options, with --nproc and --dist-timeout among them
  const timeoutSec = o.distTimeout ?? DEFAULT_DIST_TIMEOUT_SEC;
  if (o.nproc !== undefined && o.nproc > 1) {
    const r = await launchLocal({ nproc: o.nproc, timeoutSec });
    if (r.code !== 0) {
      process.stderr.write(`i3d: rank ${r.failedRank} exited with code ${r.code}\n`);
      process.exitCode = r.code;
    }
    return 'launched';
  }
  if (!isDistributedEnv()) return null;
  const c = distConfig({ timeoutSec });
  const asked = (cmd.optsWithGlobals() as { threads?: number }).threads;
  if (!asked && !process.env.I3D_NUM_THREADS && !process.env.OMP_NUM_THREADS) setNumThreads(threadsPerRank(c.localWorldSize));
  return ProcessGroup.init(c);
}
