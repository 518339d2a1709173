// `i3d predict`: classify a clip with I3D (one stream, or RGB + flow).
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { formatPrediction } from '../../inference/classify.js';
import { predict, RANDOM_WEIGHTS, type PredictOptions } from '../../inference/predict.js';
import { expandInputs, predictFiles } from '../../inference/predict-files.js';
import type { Precision } from '../../tensor/plan.js';
import { predictTrained } from '../../train/evaluate.js';
import { ZOO } from '../../weights/zoo.js';
import { flowImplOption, positiveInt, positiveSeconds, precision } from '../options.js';
import { downloadBars, stderrBar } from '../progress.js';
import type { ChunkProgress } from '../../inference/chunked.js';
import { DEFAULT_MAX_MEMORY, MB } from '../../inference/memory-budget.js';
import type { Stream } from '../../models/i3d.js';
import { I3DError } from '../../core/errors.js';

/** Seconds between two progress lines when stderr is not a terminal. */
const LINE_EVERY_S = 10;

/** Whole seconds as '45s' or '4m05s' (rounded first, so 119.6 s reads 2m00s). */
function clock(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Progress of a video of several chunks, per stream: a bar on a terminal (frames decoded, chunks done, ETA); otherwise
 * a line on stderr after the first chunk, every 10 s and at the end, for logs ("i3d: rgb: chunk 3/150, 885/45000
 * frames, 12.3 s, ETA 4m05s").
 */
function chunkBars(): { onChunkProgress: (stream: Stream, p: ChunkProgress) => void; stop: () => void } {
  const bars = new Map<Stream, NonNullable<ReturnType<typeof stderrBar>>>();
  const lines = new Map<Stream, { t0: number; last: number; chunks: number }>();
  const line = (stream: Stream, p: ChunkProgress) => {
    const now = performance.now();
    let l = lines.get(stream);
    if (!l) lines.set(stream, (l = { t0: now, last: -Infinity, chunks: 0 }));
    const done = p.chunks === p.totalChunks;
    // A line per finished chunk at most; the first one (last = -Infinity) and the end always, the rest 10 s apart.
    if (p.chunks === l.chunks || (!done && now - l.last < LINE_EVERY_S * 1000)) return;
    l.last = now;
    l.chunks = p.chunks;
    const s = (now - l.t0) / 1000;
    const eta = done ? '' : `, ETA ${clock((s * (p.totalChunks - p.chunks)) / p.chunks)}`;
    process.stderr.write(
      `i3d: ${stream}: chunk ${p.chunks}/${p.totalChunks}, ${p.frames}/${p.totalFrames} frames, ${s.toFixed(1)} s${eta}\n`,
    );
  };
  return {
    onChunkProgress(stream, p) {
      if (p.totalChunks < 2) return;
      if (!process.stderr.isTTY) return line(stream, p);
      let bar = bars.get(stream);
      if (!bar) {
        const b = stderrBar(`${stream} [{bar}] {value}/{total} frames | chunk {chunks}/{totalChunks} | ETA {eta_formatted}`);
        if (!b) return;
        b.start(p.totalFrames, 0, { chunks: 0, totalChunks: p.totalChunks });
        bars.set(stream, (bar = b));
      }
      bar.update(p.frames, { chunks: p.chunks, totalChunks: p.totalChunks });
      if (p.chunks === p.totalChunks) bar.stop();
    },
    stop() {
      for (const b of bars.values()) b.stop();
    },
  };
}

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
  precision: Precision;
  eager?: boolean;
  maxMemory?: number;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** Many inputs (or a folder): one line per file (JSON lines with --json); exit code 1 when any file failed. */
async function predictMany(inputs: string[], o: PredictFlags, base: PredictOptions): Promise<void> {
  const files = expandInputs(inputs);
  if (!files.length) throw new I3DError('I3D_INPUT_NOT_FOUND', `no video files in ${inputs.join(', ')}`);
  const s = await predictFiles(files, base, (r) => {
    if (o.json)
      console.log(
        JSON.stringify(
          r.error ? { input: r.input, error: r.error } : { input: r.input, logits: r.prediction!.logits, top: r.prediction!.top },
        ),
      );
    else if (r.error) console.log(`${r.input}\terror: ${r.error}`);
    else console.log(`${r.input}\t${r.prediction!.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(', ')}`);
  });
  process.stderr.write(
    `i3d: ${s.files - s.failed} of ${s.files} file(s) classified in ${s.seconds.toFixed(1)} s ` +
      `(model ${s.modelSeconds.toFixed(1)} s, ${(s.files / s.seconds).toFixed(2)} files/s)\n`,
  );
  if (s.failed) process.exitCode = 1;
}

export function registerPredict(program: Command): void {
  flowImplOption(program.command('predict'))
    .description('classify the action in a clip with I3D (Kinetics-400 by default)')
    .argument(
      '<inputs...>',
      'a video file (any format ffmpeg reads), an RGB clip .npy float32 [1, T, H, W, 3] in [-1, 1], or several files and folders of videos (one line per file)',
    )
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
    .option(
      '--window <s>',
      'one prediction per window of this many seconds too (long videos; from the same streamed feature map)',
      positiveSeconds('--window'),
    )
    .option('--stride <s>', 'with --window: seconds between window starts (default: the window)', positiveSeconds('--stride'))
    .option('--precision <p>', 'fp32 or bf16 (bf16: CPUs with AVX512-BF16; faster only where bf16 runs at full rate)', precision, 'fp32')
    .option('--eager', 'run the eager ops (the training path) instead of the fused inference path')
    .option(
      '--max-memory <MB>',
      `memory for whole-video inference in MB: the video runs in overlapping chunks that fit, same result as one pass (default ${DEFAULT_MAX_MEMORY / MB})`,
      positiveInt('--max-memory'),
    )
    .option('--json', 'print {"logits": [...], "top": [{"index", "label", "probability", "logit"}]} (one line per file for many)')
    .addHelpText('after', `\nZoo names: ${[...ZOO.keys()].join(', ')}`)
    .action(async (inputs: string[], o: PredictFlags) => {
      const many = inputs.length > 1 || isDir(inputs[0]!);
      if (many && o.model) throw new I3DError('I3D_USAGE', '--model takes one video; classify many with the I3D weights (--weights)');
      const input = inputs[0]!;
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
      if (o.flowModel) throw new I3DError('I3D_USAGE', '--flow-model needs --model (a trained I3D-LSTM)');
      if (o.stride && !o.window) throw new I3DError('I3D_USAGE', '--stride needs --window');
      if (many && o.window) throw new I3DError('I3D_USAGE', '--window takes one video');
      const bars = downloadBars();
      const progress = chunkBars();
      const base: PredictOptions = {
        weights: o.weights,
        ...(o.flowWeights ? { flowWeights: o.flowWeights } : {}),
        ...(o.flow ? { flow: o.flow } : {}),
        top: o.top,
        size: o.size,
        resize: o.resize,
        precision: o.precision,
        ...(o.eager ? { engine: 'eager' as const } : {}),
        ...(o.labels ? { labels: o.labels } : {}),
        ...(o.maxMemory ? { maxMemory: o.maxMemory * MB } : {}),
        ...(o.window ? { window: o.window } : {}),
        ...(o.stride ? { stride: o.stride } : {}),
        onChunkProgress: progress.onChunkProgress,
        onProgress: bars.onProgress,
        warn: (m) => process.stderr.write(`i3d: warning: ${m}\n`),
      };
      try {
        if (many) return await predictMany(inputs, o, base);
        const r = await predict(input, base);
        progress.stop();
        if (o.json) console.log(JSON.stringify({ logits: r.logits, top: r.top, ...(r.windows ? { windows: r.windows } : {}) }));
        else {
          console.log(formatPrediction(r));
          if (r.windows) {
            console.log('\nWindows');
            for (const w of r.windows)
              console.log(
                `${w.start.toFixed(2)}-${w.end.toFixed(2)} s: ${w.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(', ')}`,
              );
          }
        }
      } finally {
        progress.stop();
        bars.stop();
      }
    });
}
