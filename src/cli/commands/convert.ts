// `i3d convert`: weights of any supported format into a model folder.
import type { Command } from 'commander';
import { convert } from '../../weights/convert.js';
import { readLabels } from '../../weights/labels.js';

export function registerConvert(program: Command): void {
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
}
