// `i3d demo`: the README's main job on an embedded default (generated videos, no download).
import type { Command } from 'commander';
import { doctor, formatDoctor } from '../doctor-report.js';
import { runDemo } from '../../train/demo.js';
import { percent, positiveInt } from '../options.js';
import { epochTime, stderrBar } from '../progress.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('generate a 4-class motion video dataset, train a CPU-sized I3D-LSTM on it, evaluate on held-out videos, write a report')
    .option('--out <dir>', 'working folder (data, checkpoints, report.html); replaced on each run', 'i3d-demo')
    .option('--epochs <n>', 'training epochs', positiveInt('--epochs'), 80)
    .option('--videos <n>', 'training + validation videos per class', positiveInt('--videos'), 100)
    .option('--test-videos <n>', 'held-out test videos per class', positiveInt('--test-videos'), 25)
    .option('--json', 'print the result as JSON')
    .action(async (o: { out: string; epochs: number; videos: number; testVideos: number; json?: boolean }) => {
      if (!o.json) console.log(`${formatDoctor(doctor())}\n`);
      const bar = stderrBar('{task} [{bar}] {value}/{total} | {info} | ETA {eta}s', o.json);
      let running = '';
      const show = (task: string, value: number, total: number, info: string) => {
        if (!bar) return;
        if (running !== task) {
          if (running) bar.stop();
          bar.start(total, value, { task, info });
          running = task;
        } else bar.update(value, { info });
      };
      try {
        const r = await runDemo({
          out: o.out,
          epochs: o.epochs,
          perClass: o.videos,
          testPerClass: o.testVideos,
          onVideos: (done, total) => show('videos ', done, total, 'generating'),
          onStart: (i) => {
            bar?.stop();
            running = '';
            if (!o.json) console.log(`${i.classes.join(', ')}: ${i.train} training and ${i.validation} validation videos`);
          },
          onBatch: (b) => show(`epoch ${String(b.epoch).padStart(2)}`, b.batch, b.batches, `loss ${b.loss.toFixed(3)}`),
          onEpoch: (e) => {
            bar?.stop();
            running = '';
            if (!o.json)
              console.log(
                `epoch ${String(e.epoch).padStart(2)}: loss ${e.loss.toFixed(3)}, train ${percent(e.accuracy)}, validation ${percent(e.valAccuracy)}${e.improved ? ' *' : ''} [${epochTime(e)}]`,
              );
          },
        });
        const m = r.test.metrics;
        const summary = {
          heldOutAccuracy: m.top1,
          meanClassAccuracy: m.meanClassAccuracy,
          bestValAccuracy: r.training.bestValAccuracy,
          bestEpoch: r.training.bestEpoch,
          testVideos: m.count,
          seconds: r.seconds,
          report: r.report,
          model: r.params.out,
        };
        if (o.json) console.log(JSON.stringify(summary));
        else
          console.log(
            `\nheld-out accuracy ${percent(m.top1)} on ${m.count} test videos (4 classes that differ only in motion; chance 25%), ` +
              `in ${(r.seconds / 60).toFixed(1)} min\nreport: ${r.report}\nmodel: ${r.params.out}/best (try: i3d predict --model ${r.params.out} <video>)`,
          );
      } finally {
        bar?.stop();
      }
    });
}
