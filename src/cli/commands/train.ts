// `i3d init`, `i3d train` and `i3d evaluate`: the seed's training recipe from a parameters file and/or flags.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../../core/storage.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  DEFAULT_PARAMS,
  defaultParamsYaml,
  readParamsFile,
  TrainParamsSchema,
  validateParams,
  type TrainParams,
} from '../../train/params.js';
import { schemaFlags } from '../schema-flags.js';
import { distributedOptions, distributedRole } from '../../distributed/cli.js';
import { trainFromParams } from '../../train/run.js';
import { evaluateFolder } from '../../train/evaluate.js';
import { reportFromRun, writeReport } from '../../train/report.js';
import { readCheckpointMeta } from '../../train/checkpoint.js';
import { percent, positiveInt } from '../options.js';
import { downloadBars, epochTime, stderrBar } from '../progress.js';
import { I3DError } from '../../core/errors.js';
import { DEFAULT_MAX_MEMORY, MB } from '../../inference/memory-budget.js';

/** One flag per field of the parameters schema (flags override the file); names or placeholders that read better. */
export const TRAIN_FLAGS = schemaFlags(TrainParamsSchema, DEFAULT_PARAMS, {
  data: { value: '<dir>' },
  out: { value: '<dir>' },
  trainList: { value: '<file>' },
  testList: { value: '<file>' },
  backbone: { value: '<name|path>' },
  featureCache: { value: '<dir>' },
  size: { value: '<px>' },
  resize: { value: '<px>' },
  frameCacheMB: { flag: 'frame-cache', value: '<mb>' },
});

/** The effective parameters: defaults <- config file <- flags. */
export function paramsFromCli(o: Record<string, unknown>): TrainParams {
  const raw: Record<string, unknown> = o.config ? readParamsFile(String(o.config)) : {};
  Object.assign(raw, TRAIN_FLAGS.given(o));
  const source = o.config ? `${String(o.config)} (with command-line overrides)` : 'the command line';
  if (raw.data === undefined || raw.out === undefined) {
    const missing = ['data', 'out'].filter((k) => raw[k] === undefined);
    throw new I3DError(
      'I3D_USAGE',
      `${source}: ${missing.map((k) => `--${k}`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required (or set in --config)`,
    );
  }
  return validateParams(raw, source);
}

export function registerTrain(program: Command): void {
  program
    .command('init')
    .description('write a commented default parameters file for `i3d train --config`')
    .argument('[file]', 'where to write it', 'i3d.yaml')
    .option('--force', 'overwrite an existing file')
    .action((file: string, o: { force?: boolean }) => {
      if (existsSync(file) && !o.force) throw new I3DError('I3D_USAGE', `${file} exists; pass --force to overwrite it`);
      writeFileAtomic(file, defaultParamsYaml());
      console.log(`wrote ${file}; edit it, then: i3d train --config ${file}`);
    });

  const train = program
    .command('train')
    .description("train an I3D-LSTM on a folder of videos (data/<class>/<video>) with the seed's recipe")
    .option('--config <file>', 'parameters file (.yaml or .json; see i3d init)');
  for (const option of TRAIN_FLAGS.options) train.addOption(option);
  distributedOptions(train);
  train
    .option('--resume', 'continue from <out>/last (weights, momentum, epoch, schedule, best metric)')
    .option('--json', 'print the result as JSON')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const p = paramsFromCli(o);
      const dist = await distributedRole(o, cmd);
      if (dist === 'launched') return;
      // With several ranks, rank 0 prints and writes; the others stay quiet (errors still go to stderr).
      const quiet = dist !== null && dist.rank !== 0;
      if (quiet) o.json = true;
      const bar = stderrBar('epoch {epoch} [{bar}] {value}/{total} batches | loss {loss} | lr {lr} | ETA {eta}s', Boolean(o.json));
      const downloads = downloadBars();
      const featureBar = stderrBar('{split} features [{bar}] {value}/{total} videos | ETA {eta}s', Boolean(o.json));
      let featureSplit = '';
      let started = 0;
      try {
        const r = await trainFromParams(p, {
          ...(dist ? { distributed: dist } : {}),
          resume: Boolean(o.resume),
          onProgress: downloads.onProgress,
          onSkip: (path, e) => process.stderr.write(`i3d: skipping ${path}: ${e.message}\n`),
          onExtract: (x) => {
            if (!featureBar) return;
            if (x.split !== featureSplit) {
              if (featureSplit) featureBar.stop();
              featureBar.start(x.total, 0, { split: x.split });
              featureSplit = x.split;
            }
            featureBar.update(x.done);
          },
          onFeatures: (f) => {
            featureBar?.stop();
            featureSplit = '';
            if (!o.json) console.log(`${f.split} features: ${f.computed} computed, ${f.reused} from the cache (${f.dir})`);
          },
          onStart: (i) => {
            if (!o.json)
              console.log(
                `${i.classes.length} classes, ${i.train} training and ${i.validation} validation videos, ${i.batchesPerEpoch} batches per epoch`,
              );
          },
          onBatch: (b) => {
            if (!bar) return;
            if (b.batch === 1) {
              if (started) bar.stop();
              bar.start(b.batches, 0, { epoch: b.epoch, loss: '-', lr: b.lr });
              started = b.epoch;
            }
            bar.update(b.batch, { loss: b.loss.toFixed(4) });
          },
          onEpoch: (e) => {
            bar?.stop();
            started = 0;
            if (!o.json)
              console.log(
                `epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, accuracy ${percent(e.accuracy)}; validation loss ${e.valLoss.toFixed(4)}, ` +
                  `accuracy ${percent(e.valAccuracy)}${e.improved ? ' (best so far, saved)' : ''} [${epochTime(e)}]`,
              );
          },
        });
        await dist?.barrier();
        const report =
          r.lastValidation && !quiet
            ? await writeReport(p.out, {
                title: `I3D-LSTM training: ${p.out}`,
                history: r.history,
                metrics: r.lastValidation,
                classes: r.classes,
                notes: [`data: ${p.data}`],
              })
            : null;
        const summary = {
          bestValAccuracy: r.bestValAccuracy,
          bestEpoch: r.bestEpoch,
          epochs: r.epoch,
          out: p.out,
          report,
          skipped: r.skipped,
        };
        if (quiet) return;
        if (o.json) console.log(JSON.stringify(summary));
        else
          console.log(
            `best validation accuracy ${percent(r.bestValAccuracy)} at epoch ${r.bestEpoch}; model in ${join(p.out, 'best')}${report ? `; report ${report}` : ''}`,
          );
      } finally {
        bar?.stop();
        featureBar?.stop();
        downloads.stop();
        await dist?.destroy();
      }
    });

  program
    .command('report')
    .description('write <out>/report.html for a training folder now (curves so far, last validation confusion matrix)')
    .argument('<out>', 'the training output folder')
    .action(async (out: string) => {
      console.log(await reportFromRun(out));
    });

  const evaluate = program.command('evaluate');
  distributedOptions(evaluate);
  evaluate
    .description('evaluate a trained I3D-LSTM on a folder of class folders')
    .requiredOption('--model <dir>', 'a training output folder (uses best/) or a checkpoint folder')
    .requiredOption('--data <dir>', "videos in <class>/<video> folders named as the model's classes")
    .option('--batch <n>', 'videos per batch', positiveInt('--batch'), 4)
    .option('--workers <n>', 'decoding workers', positiveInt('--workers'), 2)
    .option('--flow-model <dir>', 'a trained flow-stream model of the same classes: two-stream, logits averaged')
    .option(
      '--max-memory <MB>',
      `memory for the backbone in MB: a segment too long for it runs in overlapping chunks, the same logits as one pass (default ${DEFAULT_MAX_MEMORY / MB})`,
      positiveInt('--max-memory'),
    )
    .option('--report <dir>', 'also write report.html (confusion matrix, per-class table) into this folder')
    .option('--json', 'print {"top1", "top5", "meanClassAccuracy", "confusion", "perClass", ...}')
    .action(
      async (
        o: {
          model: string;
          data: string;
          batch: number;
          workers: number;
          flowModel?: string;
          maxMemory?: number;
          report?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const dist = await distributedRole(o, cmd);
        if (dist === 'launched') return;
        const r = await evaluateFolder(o.model, o.data, {
          ...(dist ? { distributed: dist } : {}),
          batch: o.batch,
          workers: o.workers,
          ...(o.flowModel ? { flowModel: o.flowModel } : {}),
          ...(o.maxMemory ? { maxMemory: o.maxMemory * MB } : {}),
          onSkip: (path, e) => process.stderr.write(`i3d: skipping ${path}: ${e.message}\n`),
        });
        await dist?.destroy();
        if (dist && dist.rank !== 0) return; // every rank has the metrics over all videos; rank 0 reports
        const m = r.metrics;
        if (o.report) {
          const history = readCheckpointMeta<unknown, unknown>(r.model).trainer.history;
          await writeReport(o.report, { title: `Evaluation of ${r.model} on ${o.data}`, history, metrics: m, classes: r.classes });
        }
        if (o.json) {
          const perClass = r.classes.map((c, i) => ({ class: c, ...m.perClass[i]! }));
          console.log(
            JSON.stringify({
              top1: m.top1,
              top5: m.top5,
              meanClassAccuracy: m.meanClassAccuracy,
              count: m.count,
              streams: r.streams,
              confusion: m.confusion,
              perClass,
              classes: r.classes,
              skipped: r.skipped,
            }),
          );
          return;
        }
        console.log(
          `${r.streams.join(' + ')}, ${m.count} videos: top-1 ${percent(m.top1)}, top-5 ${percent(m.top5)}, mean class accuracy ${percent(m.meanClassAccuracy)}`,
        );
        const w = Math.max(5, ...r.classes.map((c) => c.length));
        console.log(`\n${'class'.padEnd(w)}  videos  top-1`);
        r.classes.forEach((c, i) =>
          console.log(`${c.padEnd(w)}  ${String(m.perClass[i]!.support).padStart(6)}  ${percent(m.perClass[i]!.accuracy).padStart(6)}`),
        );
        console.log(`\nconfusion (rows: true class, columns: predicted, in the order above)`);
        for (const row of m.confusion) console.log(row.map((x) => String(x).padStart(4)).join(''));
      },
    );
}
