// `i3d dataset inspect`: classes, counts, durations and the unreadable files of a dataset.
import type { Command } from 'commander';
import {
  displayPath,
  inspectDataset,
  readClassInd,
  readSplitList,
  scanFolder,
  type Dataset,
  type VideoReport,
} from '../../data/dataset.js';
import { positiveInt } from '../options.js';
import { stderrBar } from '../progress.js';

interface InspectCliOptions {
  list?: string;
  classInd?: string;
  jobs: number;
  json?: boolean;
}

export interface ClassSummary {
  name: string;
  videos: number;
  readable: number;
  totalSec: number;
  minSec: number | null;
  maxSec: number | null;
}

export function summarize(ds: Dataset, reports: VideoReport[]): ClassSummary[] {
  return ds.classes.map((name) => {
    const rs = reports.filter((r) => r.className === name);
    const d = rs.filter((r) => r.durationSec !== undefined).map((r) => r.durationSec!);
    return {
      name,
      videos: rs.length,
      readable: d.length,
      totalSec: d.reduce((a, b) => a + b, 0),
      minSec: d.length ? Math.min(...d) : null,
      maxSec: d.length ? Math.max(...d) : null,
    };
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ')).join('\n');
}

export function registerDataset(program: Command): void {
  const dataset = program.command('dataset').description('work with video datasets (<dir>/<class>/<video>, or UCF101-style split lists)');
  dataset
    .command('inspect')
    .description('decode every video: classes, counts, durations (frames at 25 fps) and the unreadable files with their reason')
    .argument('<dir>', 'the dataset folder: <dir>/<class>/<video>')
    .option('--list <file>', 'a split list (e.g. trainlist01.txt: "<class>/<video> [label]" per line, paths relative to <dir>)')
    .option('--class-ind <file>', 'class index of the list (UCF101 classInd.txt: "<n> <class>" per line)')
    .option('--jobs <n>', 'videos decoded at once', positiveInt('--jobs'), 2)
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, o: InspectCliOptions) => {
      const ds = o.list ? readSplitList(o.list, dir, o.classInd ? readClassInd(o.classInd) : undefined) : scanFolder(dir);
      const bar = stderrBar('decoding [{bar}] {value}/{total} videos | ETA {eta}s', o.json);
      bar?.start(ds.samples.length, 0);
      const reports = await inspectDataset(ds, { jobs: o.jobs, onProgress: (d) => bar?.update(d) });
      bar?.stop();
      const classes = summarize(ds, reports);
      const bad = reports.filter((r) => r.error);
      if (o.json) {
        console.log(
          JSON.stringify(
            { root: dir, classes, unreadable: bad.map((r) => ({ path: r.path, code: r.errorCode, reason: r.error })), videos: reports },
            null,
            2,
          ),
        );
        return;
      }
      const s = (x: number | null) => (x === null ? '-' : x.toFixed(2));
      const total = classes.reduce((a, c) => a + c.totalSec, 0);
      console.log(
        `${dir}: ${ds.classes.length} classes, ${reports.length} videos, ${bad.length} unreadable, ${total.toFixed(1)} s readable at 25 fps`,
      );
      console.log(
        table([
          ['class', 'videos', 'readable', 'total s', 'min s', 'max s'],
          ...classes.map((c) => [c.name, String(c.videos), String(c.readable), c.totalSec.toFixed(2), s(c.minSec), s(c.maxSec)]),
        ]),
      );
      if (bad.length) {
        console.log(`unreadable (${bad.length}):`);
        for (const r of bad) console.log(`  ${displayPath(ds, r.path)}: ${r.errorCode}: ${r.error!.slice(r.path.length + 2)}`);
      }
    });
}
