// `i3d predict`: classify a clip with I3D (one stream, or RGB + flow).
import type { Command } from 'commander';
import { formatPrediction } from '../../inference/classify.js';
import { predict, RANDOM_WEIGHTS } from '../../inference/predict.js';
import { predictTrained } from '../../train/evaluate.js';
import { ZOO } from '../../weights/zoo.js';
import { positiveInt, positiveSeconds } from '../options.js';
import { downloadBars } from '../progress.js';

interface PredictFlags {
  weights: string;
  flowWeights?: string;
  flow?: string;
  top: number;
  labels?: string;
  json?: boolean;
  size: number;
  resize: number | false;
  model?: string;
  flowModel?: string;
  window?: number;
  stride?: number;
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify the action in a clip with I3D (Kinetics-400 by default)')
    .argument('<input>', 'a video file (any format ffmpeg reads), or an RGB clip .npy float32 [1, T, H, W, 3] in [-1, 1]')
    .option(
      '--weights <name|path>',
      `RGB weights: a zoo name, a .h5 file, a checkpoint or a model folder, or '${RANDOM_WEIGHTS}'`,
      'rgb_imagenet_and_kinetics',
    )
    .option('--flow <npy>', 'flow clip [1, T, H, W, 2] in [-1, 1]: adds the flow stream (two-stream: logits added)')
    .option(
      '--flow-weights <name|path>',
      'flow weights (default flow_imagenet_and_kinetics with --flow); with a video and no --flow, its TV-L1 flow is computed',
    )
    .option('--top <k>', 'classes to list', positiveInt('--top'), 5)
    .option('--labels <file>', "class names, one per line (default: the model folder's labels, or Kinetics-400)")
    .option('--size <px>', 'video input: crop side', positiveInt('--size'), 224)
    .option('--resize <px>', 'video input: shorter side before the centre crop', positiveInt('--resize'), 256)
    .option('--no-resize', 'video input: frames are already preprocessed (e.g. the official sample GIF): crop only')
    .option('--model <dir>', 'a trained I3D-LSTM (i3d train output folder or checkpoint) instead of the I3D weights')
    .option('--flow-model <dir>', 'with --model: a trained flow-stream model of the same classes (two-stream, logits averaged)')
    .option('--window <s>', 'with --model: one prediction per window of this many seconds (long videos)', positiveSeconds('--window'))
    .option('--stride <s>', 'with --window: seconds between window starts (default: the window)', positiveSeconds('--stride'))
    .option('--json', 'print {"logits": [...], "top": [{"index", "label", "probability", "logit"}]}')
    .addHelpText('after', `\nZoo names: ${[...ZOO.keys()].join(', ')}`)
    .action(async (input: string, o: PredictFlags) => {
      if (o.model) {
        const r = await predictTrained(o.model, input, {
          top: o.top,
          ...(o.window ? { window: o.window } : {}),
          ...(o.stride ? { stride: o.stride } : {}),
          ...(o.flowModel ? { flowModel: o.flowModel } : {}),
        });
        if (o.json)
          console.log(JSON.stringify(r.windows ? { windows: r.windows } : { logits: r.prediction!.logits, top: r.prediction!.top }));
        else if (r.windows)
          for (const w of r.windows)
            console.log(
              `${w.start.toFixed(2)}-${w.end.toFixed(2)} s: ${w.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(', ')}`,
            );
        else console.log(r.prediction!.top.map((t) => `${t.probability.toPrecision(7)} ${t.logit.toPrecision(7)} ${t.label}`).join('\n'));
        return;
      }
      if (o.window || o.stride || o.flowModel) throw new Error('--window, --stride and --flow-model need --model (a trained I3D-LSTM)');
      const bars = downloadBars();
      try {
        const r = await predict(input, {
          weights: o.weights,
          ...(o.flowWeights ? { flowWeights: o.flowWeights } : {}),
          ...(o.flow ? { flow: o.flow } : {}),
          top: o.top,
          size: o.size,
          resize: o.resize,
          ...(o.labels ? { labels: o.labels } : {}),
          onProgress: bars.onProgress,
          warn: (m) => process.stderr.write(`i3d: warning: ${m}\n`),
        });
        console.log(o.json ? JSON.stringify({ logits: r.logits, top: r.top }) : formatPrediction(r));
      } finally {
        bars.stop();
      }
    });
}
