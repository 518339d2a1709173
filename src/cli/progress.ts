// Progress bars on stderr (stdout stays clean for --json), only when stderr is a terminal.
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../net/download.js';

const MB = 1024 * 1024;

/** A progress bar on stderr with this format (cli-progress placeholders), or null when stderr is not a terminal or
 * the output is JSON. */
export function stderrBar(format: string, json = false): cliProgress.SingleBar | null {
  if (!process.stderr.isTTY || json) return null;
  return new cliProgress.SingleBar({ format, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
}

/** An `onProgress` for zoo downloads: a bar per file on a terminal, one line per file otherwise. */
export function downloadBars(): { onProgress: (name: string, p: DownloadProgress) => void; stop: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  const bars = new Map<string, cliProgress.SingleBar>();
  const announced = new Set<string>();
  return {
    onProgress(name, p) {
      if (!tty) {
        if (!announced.has(name)) {
          announced.add(name);
          const size = p.total ? ` (${(p.total / MB).toFixed(1)} MB)` : '';
          process.stderr.write(`downloading ${name}${size}${p.resumedFrom ? `, resuming at ${(p.resumedFrom / MB).toFixed(1)} MB` : ''}\n`);
        }
        return;
      }
      let bar = bars.get(name);
      if (!bar) {
        bar = stderrBar(`${name} [{bar}] {percentage}% | {mb}/{totalMb} MB | ETA {eta}s`)!;
        bar.start(p.total ?? 0, p.received, { mb: '0.0', totalMb: p.total ? (p.total / MB).toFixed(1) : '?' });
        bars.set(name, bar);
      }
      bar.update(p.received, { mb: (p.received / MB).toFixed(1) });
      if (p.total !== null && p.received >= p.total) bar.stop();
    },
    stop() {
      for (const b of bars.values()) b.stop();
    },
  };
}

/** An epoch's seconds and where they went: "12.3 s: data 1.2, steps 10.1, validation 1.0". */
export function epochTime(e: { seconds: number; time?: { dataSec: number; stepSec: number; validationSec: number } }): string {
  const t = e.time;
  return t
    ? `${e.seconds.toFixed(1)} s: data ${t.dataSec.toFixed(1)}, steps ${t.stepSec.toFixed(1)}, validation ${t.validationSec.toFixed(1)}`
    : `${e.seconds.toFixed(1)} s`;
}
