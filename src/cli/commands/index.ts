// Every command of the `i3d` CLI, in the order `i3d --help` lists them.
import type { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerConvert } from './convert.js';
import { registerDataset } from './dataset.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerExtract } from './extract.js';
import { registerFlow } from './flow.js';
import { registerPredict } from './predict.js';
import { registerTrain } from './train.js';
import { registerPreprocess } from './preprocess.js';
import { registerServe } from './serve.js';

export function registerCommands(program: Command): void {
  registerDemo(program);
  registerPredict(program);
  registerTrain(program);
  registerServe(program);
  registerExtract(program);
  registerConvert(program);
  registerPreprocess(program);
  registerFlow(program);
  registerDataset(program);
  registerBench(program);
  registerDoctor(program);
}
