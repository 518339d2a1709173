// Label maps: one class name per line (the official Kinetics label_map.txt format).
import { existsSync, readFileSync } from 'node:fs';
import { WeightsError } from './errors.js';

export function readLabels(path: string): string[] {
  if (!existsSync(path)) throw new WeightsError(`${path}: no such label file`);
  const labels = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim());
  while (labels.length && labels[labels.length - 1] === '') labels.pop();
  if (!labels.length) throw new WeightsError(`${path}: no labels in the file`);
  const blank = labels.findIndex((l) => l === '');
  if (blank >= 0) throw new WeightsError(`${path}: line ${blank + 1} is empty`);
  return labels;
}
