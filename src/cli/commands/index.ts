// Every command of the `i3d` CLI, in the order `i3d --help` lists them. Each module is imported only when its
// command runs (or for the whole list: `i3d --help`, an unknown command), so a command does not load the others'
// dependencies: `i3d predict` reads about 230 modules instead of about 600 (no HTTP server, metrics or YAML).
import type { Command } from 'commander';

type Register = (program: Command) => void;

/** The modules in help order, each with the command names it registers. */
const MODULES: { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['demo'], load: async () => (await import('./demo.js')).registerDemo },
  { names: ['predict'], load: async () => (await import('./predict.js')).registerPredict },
  { names: ['init', 'train', 'report', 'evaluate'], load: async () => (await import('./train.js')).registerTrain },
  { names: ['serve'], load: async () => (await import('./serve.js')).registerServe },
  { names: ['extract'], load: async () => (await import('./extract.js')).registerExtract },
  { names: ['convert'], load: async () => (await import('./convert.js')).registerConvert },
  { names: ['preprocess'], load: async () => (await import('./preprocess.js')).registerPreprocess },
  { names: ['flow'], load: async () => (await import('./flow.js')).registerFlow },
  { names: ['dataset'], load: async () => (await import('./dataset.js')).registerDataset },
  { names: ['bench'], load: async () => (await import('./bench.js')).registerBench },
  { names: ['doctor'], load: async () => (await import('./doctor.js')).registerDoctor },
];

/**
 * The command `args` (process.argv without node and the script) names: the first word that is not a global option
 * or its value (`globalWithValue`: the global options that take one), or null.
 */
export function commandWord(args: readonly string[], globalWithValue: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return null;
    if (globalWithValue.includes(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return null;
}

/** Registers the module of the command `word` names, or every command when it names none of them. */
export async function registerCommands(program: Command, word: string | null): Promise<void> {
  const mine = MODULES.filter((m) => word !== null && m.names.includes(word));
  for (const m of mine.length ? mine : MODULES) (await m.load())(program);
}
