#!/usr/bin/env node
// The `i3d` command.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { exitCodeOf } from '../core/errors.js';
import { setNumThreads } from '../tensor/runtime.js';
import { registerCommands } from './commands/index.js';
import { positiveInt } from './options.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('i3d')
  .description('Video action recognition with I3D and I3D-LSTM')
  .version(pkg.version, '-v, --version')
  .option('--threads <n>', 'threads per op (default: all cores)', positiveInt('--threads'))
  .hook('preAction', (cmd) => {
    const t = cmd.opts<{ threads?: number }>().threads;
    if (t) setNumThreads(t);
  });

// The library's own warnings (a slower path taken, and why) as one plain line each; Node's other warnings as usual.
const nodeWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'I3DWarning') console.error(`i3d: warning: ${w.message}`);
  else for (const l of nodeWarning) l(w);
});

registerCommands(program);

program.parseAsync().catch((e: unknown) => {
  console.error(`i3d: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(exitCodeOf(e));
});
