// The README's tables of exit codes and error codes, made from the catalogue (scripts/error-table.mjs writes them;
// test/errors.test.ts fails when the README's differ).
import { ERRORS, EXIT_CODES, type ErrorCode, type ErrorKind } from './errors.js';

/** What each exit code means, in the order of the table. */
export const KIND_DOCS: Record<ErrorKind, string> = {
  usage: 'usage: a bad option or argument, options that do not go together (commander reports its own the same way)',
  input: 'bad input: a video, dataset, .npy clip, parameters file or run folder that is missing or cannot be used',
  model: 'bad model or weights: a weights file, checkpoint, model folder or download that is missing, corrupt or does not fit',
  resource: 'a resource limit or time-out: the memory budget, video size and duration limits, ffmpeg time-outs, locks, peers lost',
  internal: 'anything else (a bug, a missing ffmpeg or native addon, training that diverged, some files of many that failed)',
};

/** One row of a table: its cells. */
export type Row = string[];

export function exitCodeRows(): Row[] {
  const kinds = (Object.keys(EXIT_CODES) as ErrorKind[]).sort((a, b) => EXIT_CODES[a] - EXIT_CODES[b]);
  return kinds.map((k) => [String(EXIT_CODES[k]), KIND_DOCS[k]]);
}

/** Every code in the catalogue's order: code, exit code, HTTP status, meaning. */
export function errorCodeRows(): Row[] {
  return (Object.keys(ERRORS) as ErrorCode[]).map((c) => [
    `\`${c}\``,
    String(EXIT_CODES[ERRORS[c].kind]),
    String(ERRORS[c].http),
    ERRORS[c].doc,
  ]);
}

function table(head: Row, rows: Row[]): string {
  const line = (cells: Row) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The markdown between the README's markers (before prettier aligns it). */
export function errorTablesMarkdown(): string {
  return [
    table(['exit code', 'meaning'], exitCodeRows()),
    '',
    table(['code', 'exit code', 'HTTP status', 'meaning'], errorCodeRows()),
  ].join('\n');
}

/** The rows of the markdown tables in `text` (cells trimmed), each table's header and rule left out. */
export function parseTables(text: string): Row[][] {
  const tables: Row[][] = [];
  let current: Row[] | null = null;
  for (const l of text.split('\n')) {
    const s = l.trim();
    if (!s.startsWith('|')) {
      current = null;
      continue;
    }
    const cells = s
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replaceAll('\\|', '|'));
    if (!current) tables.push((current = []));
    current.push(cells);
  }
  return tables.map((t) => t.filter((_, i) => i >= 2));
}
