// `i3d demo`: the README's main job on an embedded default.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { doctor, formatDoctor } from '../../system/doctor.js';
import { runTinyDemo } from '../../train/tiny-demo.js';
import { positiveInt } from '../options.js';

export function registerDemo(program: Command): void {
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
}
