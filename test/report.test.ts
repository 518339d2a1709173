// The training report's metrics: top-5 as training measured it (it cannot be rebuilt from a confusion matrix), the
// rest from the matrix, equal to what classificationMetrics gives from the logits.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { classificationMetrics, metricsFromConfusion } from '../src/train/metrics.js';
import { reportFromRun } from '../src/train/report.js';

// 8 classes, 6 examples; the truth is ranked 1st, 2nd, 7th, 1st, 6th and 3rd: top-1 2/6, top-5 4/6.
const CLASSES = 8;
const ranks = [0, 1, 6, 0, 5, 2];
const labels = [0, 1, 2, 3, 4, 5];
const logits = labels.map((y, i) => {
  const others = Array.from({ length: CLASSES }, (_, c) => c).filter((c) => c !== y);
  const order = [...others.slice(0, ranks[i]), y, ...others.slice(ranks[i])];
  const row = new Array<number>(CLASSES);
  order.forEach((c, r) => (row[c] = CLASSES - r));
  return row;
});

test('metricsFromConfusion gives top-1, per-class and mean class accuracy as classificationMetrics does', () => {
  const m = classificationMetrics(logits, labels, CLASSES);
  assert.equal(m.top1, 2 / 6);
  assert.equal(m.top5, 4 / 6);
  const r = metricsFromConfusion(m.confusion, m.top5);
  assert.deepEqual(r, m);
  assert.ok(Number.isNaN(metricsFromConfusion(m.confusion, Number.NaN).top5));
});

function runFolder(epoch: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  writeFileSync(join(dir, 'classes.txt'), Array.from({ length: CLASSES }, (_, c) => `class${c}`).join('\n') + '\n');
  const m = classificationMetrics(logits, labels, CLASSES);
  const record = {
    type: 'epoch',
    epoch: 1,
    lr: 0.01,
    loss: 1,
    accuracy: 0.5,
    valLoss: 1,
    valAccuracy: m.top1,
    seconds: 1,
    confusion: m.confusion,
  };
  writeFileSync(join(dir, 'log.jsonl'), JSON.stringify({ ...record, ...epoch }) + '\n');
  return dir;
}

test('i3d report shows the top-5 accuracy training logged, not one rebuilt from the confusion matrix', async () => {
  const dir = runFolder({ valTop5: 4 / 6 });
  try {
    const html = readFileSync(await reportFromRun(dir), 'utf8');
    assert.match(html, /Top-1 33\.3% · top-5 66\.7%/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a log from before top-5 was logged shows top-5 as unknown', async () => {
  const dir = runFolder({});
  try {
    const html = readFileSync(await reportFromRun(dir), 'utf8');
    assert.match(html, /Top-1 33\.3% · top-5 - ·/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
