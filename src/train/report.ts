// The training report: loss, accuracy and learning-rate curves and the confusion matrix as SVG images (drawn by
// Vega-Lite), with a per-class table, in one self-contained HTML page.
import { I3DError } from '../core/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/storage.js';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { EpochRecord } from './checkpoint.js';
import { metricsFromConfusion, type ClassificationMetrics } from './metrics.js';

async function svg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: the plotting libraries take ~150 ms to load, which every other command can skip.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function curve(title: string, rows: { epoch: number; value: number; series: string }[], yTitle: string, log = false): TopLevelSpec {
  return {
    title,
    width: 360,
    height: 220,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, ...(log ? { scale: { type: 'log' } } : {}) },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
}

function confusionSpec(m: ClassificationMetrics, classes: readonly string[]): TopLevelSpec {
  const values = m.confusion.flatMap((row, t) => row.map((count, p) => ({ truth: classes[t], predicted: classes[p], count })));
  const side = Math.max(160, Math.min(640, 28 * classes.length));
  return {
    title: 'Confusion matrix (validation)',
    width: side,
    height: side,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...classes], title: 'predicted' },
      y: { field: 'truth', type: 'nominal', sort: [...classes], title: 'true class' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'videos' } } },
      ...(classes.length <= 30
        ? [{ mark: { type: 'text' as const, fontSize: 11 }, encoding: { text: { field: 'count', type: 'quantitative' as const } } }]
        : []),
    ],
  };
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');

export interface ReportInput {
  title: string;
  history: EpochRecord[];
  /** Metrics of the evaluated model (validation or test). */
  metrics: ClassificationMetrics;
  classes: readonly string[];
  /** Free lines shown under the title (parameters, paths). */
  notes?: string[];
}

/** Writes `report.html` into `dir` (atomically) and returns its path. */
export async function writeReport(dir: string, r: ReportInput): Promise<string> {
  const h = r.history;
  const images: string[] = [];
  const trainVal = (train: (e: EpochRecord) => number, val: (e: EpochRecord) => number) =>
    h.flatMap((e) => [
      { epoch: e.epoch, value: train(e), series: 'training' },
      { epoch: e.epoch, value: val(e), series: 'validation' },
    ]);
  if (h.length) {
    images.push(
      await svg(
        curve(
          'Loss',
          trainVal(
            (e) => e.loss,
            (e) => e.valLoss,
          ),
          'cross-entropy',
        ),
      ),
      await svg(
        curve(
          'Accuracy',
          trainVal(
            (e) => e.accuracy,
            (e) => e.valAccuracy,
          ),
          'top-1 accuracy',
        ),
      ),
      await svg(
        curve(
          'Learning rate',
          h.map((e) => ({ epoch: e.epoch, value: e.lr, series: 'SGD' })),
          'learning rate',
          true,
        ),
      ),
    );
  }
  images.push(await svg(confusionSpec(r.metrics, r.classes)));
  const m = r.metrics;
  const rows = r.classes
    .map((c, i) => `<tr><td>${escape(c)}</td><td>${m.perClass[i]!.support}</td><td>${pct(m.perClass[i]!.accuracy)}</td></tr>`)
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(r.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}figure{display:inline-block;margin:0 1em 1em 0}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td:first-child{text-align:left}</style>
</head><body>
<h1>${escape(r.title)}</h1>
${(r.notes ?? []).map((n) => `<p>${escape(n)}</p>`).join('\n')}
<p>Top-1 ${pct(m.top1)} · top-5 ${pct(m.top5)} · mean class accuracy ${pct(m.meanClassAccuracy)} · ${m.count} videos</p>
${images.map((s) => `<figure>${s}</figure>`).join('\n')}
<h2>Per class</h2>
<table><tr><th>class</th><th>videos</th><th>top-1</th></tr>
${rows}
</table>
</body></html>
`;
  const path = join(dir, 'report.html');
  writeFileAtomic(path, html);
  return path;
}

/**
 * The report of a training folder, on demand (during training too): the epochs from `log.jsonl` (the latest run
 * of each epoch, after resumes) and the last epoch's validation confusion matrix, classes from `classes.txt`.
 */
export async function reportFromRun(out: string): Promise<string> {
  const logPath = join(out, 'log.jsonl');
  const classesPath = join(out, 'classes.txt');
  if (!existsSync(logPath) || !existsSync(classesPath))
    throw new I3DError('I3D_BAD_RUN_FOLDER', `${out}: not a training folder (needs log.jsonl and classes.txt)`);
  const classes = readFileSync(classesPath, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const byEpoch = new Map<number, EpochRecord & { confusion: number[][]; valTop5?: number }>();
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let e: { type?: string } & Partial<EpochRecord & { confusion: number[][]; valTop5?: number }>;
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue; // a line cut by a kill
    }
    if (e.type === 'epoch' && typeof e.epoch === 'number' && Array.isArray(e.confusion))
      byEpoch.set(e.epoch, e as EpochRecord & { confusion: number[][]; valTop5?: number });
  }
  const history = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  const last = history.at(-1);
  if (!last) throw new I3DError('I3D_BAD_RUN_FOLDER', `${logPath}: no finished epoch yet`);
  // Top-5 as training measured it (logs older than valTop5 have none: the report shows '-').
  const metrics = metricsFromConfusion(last.confusion, typeof last.valTop5 === 'number' ? last.valTop5 : Number.NaN);
  return writeReport(out, {
    title: `I3D-LSTM training: ${out}`,
    history: history.map(({ epoch, lr, loss, accuracy, valLoss, valAccuracy, seconds }) => ({
      epoch,
      lr,
      loss,
      accuracy,
      valLoss,
      valAccuracy,
      seconds,
    })),
    metrics,
    classes,
    notes: [`Validation confusion matrix of epoch ${last.epoch}; ${history.length} epochs logged.`],
  });
}
