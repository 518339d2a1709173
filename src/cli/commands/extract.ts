// `i3d extract`: I3D segment features of videos (files and/or dataset folders) into the feature cache, for users
// who only want features and for training a head on a frozen backbone (`i3d train --freeze` reads the same cache).
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { extractFeatures, type CacheKeyInfo, type ExtractOptions } from '../../features/extract.js';
import { distributedOptions, distributedRole } from '../../distributed/cli.js';
import { extractShares } from '../../distributed/train-hooks.js';
import { DEFAULT_MAX_MEMORY, MB } from '../../inference/memory-budget.js';
import { flowImplOption, positiveInt } from '../options.js';
import { downloadBars, stderrBar } from '../progress.js';
import { I3DError } from '../../core/errors.js';

/** The clip and backbone options are the cache key's fields (features/extract.ts). */
interface ExtractCliOptions extends Omit<CacheKeyInfo, 'format' | 'augment'> {
  out: string;
  seed: number;
  flip: boolean;
  batch: number;
  workers: number;
  npy?: boolean;
  maxMemory?: number;
  json?: boolean;
  nproc?: number;
  distTimeout?: number;
}

function num(name: string, ok: (x: number) => boolean, what: string) {
  return (value: string): number => {
    const x = Number(value);
    if (!Number.isFinite(x) || !ok(x)) throw new InvalidArgumentError(`${name} must be ${what}, got '${value}'.`);
    return x;
  };
}

export function registerExtract(program: Command): void {
  distributedOptions(flowImplOption(program.command('extract')))
    .description('I3D features of every segment of videos ([views, segments, 1024] per video) into a feature cache folder')
    .argument('<videos...>', 'video files and/or dataset folders (<folder>/<class>/<video>)')
    .requiredOption('--out <dir>', 'cache root: features go to <dir>/<key>/ (key: backbone and clip parameters)')
    .option('--backbone <name|path|random>', "I3D weights: a zoo name, a path, or 'random'", 'rgb_imagenet_and_kinetics_no_top')
    .option(
      '--stream <rgb|flow>',
      'input stream',
      (v: string) => {
        if (v !== 'rgb' && v !== 'flow') throw new InvalidArgumentError(`--stream must be rgb or flow, got '${v}'.`);
        return v;
      },
      'rgb',
    )
    .option(
      '--width <x>',
      "channel multiplier of a 'random' backbone (1 = official)",
      num('--width', (x) => x > 0 && x <= 1, 'in (0, 1]'),
      1,
    )
    .option('--segments <n>', 'segments per video', positiveInt('--segments'), 4)
    .option('--frames <n>', 'frames per segment (>= 8)', positiveInt('--frames'), 16)
    .option('--size <px>', 'crop size', positiveInt('--size'), 224)
    .option('--resize <px>', 'shorter side before cropping', positiveInt('--resize'), 256)
    .option(
      '--fps <n>',
      'frame rate of sampling',
      num('--fps', (x) => x > 0 && x <= 240, 'in (0, 240]'),
      25,
    )
    .option('--views <n>', 'views per video: 1 = centre crop; more add random crops, flips and jitter', positiveInt('--views'), 1)
    .option(
      '--seed <n>',
      "seed of a 'random' backbone and of the augmented views",
      num('--seed', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
      42,
    )
    .option('--no-flip', 'no horizontal flips in the augmented views')
    .option('--batch <n>', 'videos per backbone batch', positiveInt('--batch'), 4)
    .option('--workers <n>', 'decoding workers', positiveInt('--workers'), 2)
    .option(
      '--max-memory <MB>',
      `memory for the backbone in MB: clips run together while they fit; a segment too long for it runs in overlapping chunks, same features as one pass (default ${DEFAULT_MAX_MEMORY / MB})`,
      positiveInt('--max-memory'),
    )
    .option('--npy', 'also write npy/<video>.npy [segments, features] (the centre view) per video in the cache folder')
    .option('--json', 'print {"dir", "manifest", "computed", "reused", "skipped", "featureShape", "videos"} as JSON')
    .action(async (videos: string[], o: ExtractCliOptions, cmd: Command) => {
      if (o.resize < o.size) throw new I3DError('I3D_USAGE', `--resize (${o.resize}) must be at least --size (${o.size})`);
      if (o.frames < 8) throw new I3DError('I3D_USAGE', `--frames must be at least 8 (I3D), got ${o.frames}`);
      const dist = await distributedRole(o, cmd);
      if (dist === 'launched') return;
      if (dist && dist.rank !== 0) o.json = true; // rank 0 reports
      // A segment that runs in chunks (a long --frames) shows its frames and chunks after the videos.
      const bar = stderrBar('features [{bar}] {value}/{total} videos | {computed} computed | ETA {eta}s{chunked}', o.json);
      const downloads = downloadBars();
      let started = false;
      let chunkStart: number | null = null; // when the segment running in chunks started
      try {
        const options: ExtractOptions = {
          out: o.out,
          backbone: o.backbone,
          stream: o.stream,
          width: o.width,
          seed: o.seed,
          segments: o.segments,
          frames: o.frames,
          size: o.size,
          resize: o.resize,
          fps: o.fps,
          views: o.views,
          flip: o.flip,
          batch: o.batch,
          workers: o.workers,
          npy: Boolean(o.npy),
          ...(o.maxMemory ? { maxMemory: o.maxMemory * MB } : {}),
          onChunkProgress: (path, p) => {
            if (!bar) return;
            if (!started) bar.start(1, 0, { computed: 0, chunked: '' }); // the first video's total comes with its end
            started = true;
            if (p.chunks === p.totalChunks) {
              chunkStart = null;
              bar.update({ chunked: '' });
              return;
            }
            chunkStart ??= performance.now();
            const eta = p.chunks ? `, ETA ${(((performance.now() - chunkStart) / 1000) * (p.totalChunks / p.chunks - 1)).toFixed(0)}s` : '';
            bar.update({ chunked: ` | ${path}: ${p.frames}/${p.totalFrames} frames, chunk ${p.chunks + 1}/${p.totalChunks}${eta}` });
          },
          onSkip: (path, e) => process.stderr.write(`i3d: skipping ${path}: ${e.message}\n`),
          onProgress: (p) => {
            if (!bar) return;
            if (!started) bar.start(p.total, 0, { computed: 0, chunked: '' });
            else bar.setTotal(p.total);
            started = true;
            bar.update(p.done, { computed: p.computed, chunked: '' });
          },
        };
        // With several ranks: each computes its share, then rank 0 reads them all back and reports.
        const computed = dist ? await extractShares(dist, (select) => extractFeatures(videos, { ...options, select })) : null;
        if (dist && dist.rank !== 0) return;
        const r = await extractFeatures(videos, options);
        if (computed !== null) Object.assign(r, { computed, reused: r.entries.length - computed });
        bar?.stop();
        const skipped = [...r.skipped].map(([path, e]) => ({ path, error: e.message }));
        if (o.json) {
          console.log(
            JSON.stringify({
              dir: r.dir,
              key: r.key,
              manifest: r.manifest,
              computed: r.computed,
              reused: r.reused,
              skipped,
              featureShape: r.featureShape,
              videos: r.entries.map((e) => ({
                path: e.path,
                sha256: e.sha256,
                features: join(r.dir, e.file),
                ...(e.npy && { npy: join(r.dir, e.npy) }),
                ...(e.className !== undefined && { class: e.className, label: e.label }),
              })),
            }),
          );
          return;
        }
        console.log(
          `${r.entries.length} videos: ${r.computed} computed, ${r.reused} from the cache${skipped.length ? `, ${skipped.length} skipped (unreadable)` : ''}; ` +
            `features [${r.featureShape.join(', ')}] (views, segments, features) per video`,
        );
        console.log(`wrote ${r.manifest}${o.npy ? ` and ${join(r.dir, 'npy')}/*.npy [${r.featureShape.slice(1).join(', ')}]` : ''}`);
      } finally {
        bar?.stop();
        downloads.stop();
        if (dist) await dist.destroy();
      }
    });
}
