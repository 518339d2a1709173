// Shared by the bench scripts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench scripts run from dist/bench). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** An integer flag >= min, or an error naming it. */
export function positive(name: string, s: string | undefined, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer >= ${min}, got ${s}`);
  return n;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Progress on stderr (stdout carries the results). */
export const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** Busy and total CPU ticks of the machine, and the ticks of this process and its waited-for children (Linux). */
export function cpuTicks(): { busy: number; total: number; own: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    // /proc/self/stat after the command name: state is field 3, utime..cstime are fields 14..17.
    const self = readFileSync('/proc/self/stat', 'utf8');
    const g = self
      .slice(self.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return { busy: total - idle, total, own: g[11]! + g[12]! + g[13]! + g[14]! };
  } catch {
    return null;
  }
}
