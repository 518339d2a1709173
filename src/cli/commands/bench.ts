// `i3d bench`: model-only inference speed of I3D on this machine (random weights, random clip).
import { type Command, InvalidArgumentError } from 'commander';
import { benchI3D } from '../../inference/i3d-bench.js';
import type { Precision } from '../../tensor/plan.js';
import { positiveInt } from '../options.js';

interface BenchFlags {
  frames: number;
  size: number;
  precision: Precision;
  batch: number;
  stream: 'rgb' | 'flow';
  runs: number;
  warmup: number;
  eager?: boolean;
  json?: boolean;
}

function oneOf<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${name} must be one of ${allowed.join(', ')}, got '${value}'.`);
    return value as T;
  };
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time I3D inference on this machine: model-only ms per clip (median after warm-up) and GFLOP/s')
    .option('--frames <n>', 'frames per clip', positiveInt('--frames'), 64)
    .option('--size <px>', 'frame height and width', positiveInt('--size'), 224)
    .option('--precision <p>', 'fp32 or bf16 (bf16: CPUs with AVX512-BF16)', oneOf('--precision', ['fp32', 'bf16'] as const), 'fp32')
    .option('--batch <n>', 'clips per call', positiveInt('--batch'), 1)
    .option('--stream <s>', 'rgb or flow', oneOf('--stream', ['rgb', 'flow'] as const), 'rgb')
    .option('--runs <n>', 'timed runs', positiveInt('--runs'), 5)
    .option('--warmup <n>', 'untimed runs first', (v) => (v === '0' ? 0 : positiveInt('--warmup')(v)), 2)
    .option('--eager', 'time the eager ops (the training path) instead of the fused inference path')
    .option('--json', 'print {"msPerClip", "gflops", ...} as JSON')
    .addHelpText('after', '\nThreads: the global --threads option (default: all cores), e.g. i3d --threads 2 bench.')
    .action(async (o: BenchFlags) => {
      if (!o.json)
        console.error(
          `I3D ${o.stream}, ${o.batch} x ${o.frames} x ${o.size} x ${o.size}, ${o.eager ? 'eager' : 'fused'} ${o.precision}: ` +
            `${o.warmup} warm-up + ${o.runs} timed run(s)`,
        );
      const r = await benchI3D({
        frames: o.frames,
        size: o.size,
        precision: o.precision,
        batch: o.batch,
        stream: o.stream,
        runs: o.runs,
        warmup: o.warmup,
        engine: o.eager ? 'eager' : 'fused',
        onRun: o.json ? undefined : (ms, timed) => console.error(`  ${timed ? 'run' : 'warm-up'}: ${ms.toFixed(1)} ms`),
      });
      if (o.json) console.log(JSON.stringify(r));
      else {
        if (r.reason) console.error(`  the eager engine ran: ${r.reason}`);
        console.log(
          `${r.msPerClip.toFixed(1)} ms per clip, ${r.gflops.toFixed(1)} GFLOP/s (${r.gmacs.toFixed(1)} GMAC per clip), ` +
            `${r.threads} thread(s), peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
        );
      }
    });
}
