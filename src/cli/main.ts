#!/usr/bin/env node
// The `i3d` command.
import { readFileSync } from 'node:fs';
import { Command, type CommanderError } from 'commander';
import { EXIT_CODES, exitCodeOf } from '../core/errors.js';
import { setNumThreads } from '../tensor/runtime.js';
import { commandWord, registerCommands } from './commands/index.js';
import { positiveInt } from './options.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('i3d')
  .description('Video action recognition with I3D and I3D-LSTM')
  .version(pkg.version, '-v, --version')
  .option('--threads <n>', 'threads per op (default: all cores)', positiveInt('--threads'))
  // commander's own errors (unknown command or option, missing argument, a value our parsers refuse) are usage
  // errors: exit 2 with commander's message, written as `i3d: <message>`. --help and --version exit 0. Set before the
  // commands are registered, which inherit it.
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.usage))
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'i3d: ')) })
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

await registerCommands(program, commandWord(process.argv.slice(2), ['--threads']));

// Anything thrown by a command: its message, and the catalogue's exit code (README: "Errors and exit codes").
program.parseAsync().catch((e: unknown) => {
  console.error(`i3d: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(exitCodeOf(e));
});
