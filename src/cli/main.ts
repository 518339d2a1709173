#!/usr/bin/env node
// The `i3d` command.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { doctor, formatDoctor } from '../system/doctor.js';
import { runTinyDemo } from '../train/tiny-demo.js';
import { setNumThreads } from '../runtime.js';
import { convert } from '../weights/convert.js';
import { readLabels } from '../weights/labels.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'.`);
    return n;
  };
}

const program = new Command()
  .name('i3d')
  .description('Video action recognition with I3D and I3D-LSTM')
  .version(pkg.version, '-v, --version')
  .option('--threads <n>', 'threads per op (default: all cores)', positiveInt('--threads'))
  .hook('preAction', (cmd) => {
    const t = cmd.opts<{ threads?: number }>().threads;
    if (t) setNumThreads(t);
  });

program
  .command('doctor')
  .description('report libtorch, threads, CPU features (AVX512-BF16), CUDA and ffmpeg')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) => {
    const r = doctor();
    console.log(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
  });

program
  .command('demo')
  .description('check the installation, then train a tiny conv3d + LSTM on generated motion clips')
  .option('--steps <n>', 'training steps', positiveInt('--steps'), 300)
  .option('--json', 'print the result as JSON')
  .action((o: { steps: number; json?: boolean }) => {
    if (!o.json) console.log(`${formatDoctor(doctor())}\n`);
    const bar = o.json
      ? null
      : new cliProgress.SingleBar(
          { format: 'training [{bar}] {value}/{total} steps | loss {loss} | ETA {eta}s', hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
    bar?.start(o.steps, 0, { loss: '-' });
    const r = runTinyDemo({ steps: o.steps, onStep: (s, loss) => bar?.update(s, { loss: loss.toFixed(4) }) });
    bar?.stop();
    if (o.json) console.log(JSON.stringify(r));
    else
      console.log(
        `loss ${r.firstLoss.toFixed(4)} -> ${r.lastLoss.toFixed(4)}; held-out accuracy ${(100 * r.heldOutAccuracy).toFixed(1)}% ` +
          '(2 classes that differ only in motion)',
      );
  });

program
  .command('convert')
  .description('convert weights (Keras .h5, TensorFlow checkpoint, or a model folder) into a model folder (safetensors + config.json)')
  .argument('<input>', 'a Keras .h5 file, a checkpoint prefix (model.ckpt) or its .index file, or a model folder')
  .argument('<output>', 'the model folder to write')
  .option('--labels <file>', 'class names, one per line, stored in the config')
  .action(async (input: string, output: string, o: { labels?: string }) => {
    const labels = o.labels ? readLabels(o.labels) : undefined;
    const r = await convert(input, output, labels ? { labels } : {});
    const c = r.config;
    console.log(
      `${input} (${r.format}) -> ${output}: I3D ${c.stream}, ${c.includeTop ? `${c.classes} classes` : 'no top'}${c.labels ? ', with labels' : ''}`,
    );
  });

program.parseAsync().catch((e: unknown) => {
  console.error(`i3d: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
