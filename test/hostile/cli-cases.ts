// Runs the `i3d` command on the hostile corpus, one child per (kind, command), and checks each outcome: exit status
// 0 (a valid result) or 1-125 with a message naming the file, within a time bound, peak memory measured
// (/usr/bin/time), no ffmpeg/ffprobe left behind (found by an environment marker in /proc), no connection to the
// loopback listener the playlists point at. Also reads each kind in-process (probe, then decode) for its error code.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { basename, join } from 'node:path';
import { countFrames } from '../../src/video/decode.js';
import { probeVideo } from '../../src/video/probe.js';
import { ROOT } from '../helpers.js';
import type { Kind } from './corpus.js';

const BIN = join(ROOT, 'dist/src/cli/main.js');

export const COMMANDS = ['preprocess', 'predict', 'flow', 'extract', 'dataset inspect'] as const;
export type CommandName = (typeof COMMANDS)[number] | 'train';

export interface RunResult {
  status: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
  maxRssMB: number;
  stdout: string;
  stderr: string;
  /** ffmpeg/ffprobe (or any process) of this run still alive after it ended. */
  leftovers: string[];
}

/** A loopback TCP listener that counts the connections made to it. */
export async function listener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return { port, connections: () => n, close: () => new Promise((res) => server.close(() => res())) };
}

/** Processes whose environment holds `marker` (ours: we set it on the child; ffmpeg inherits it). */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker))
        found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').slice(0, 120)}`);
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** Runs `i3d args` under /usr/bin/time with a time limit; the whole process group is killed past it. */
export async function runCli(args: string[], timeoutMs: number, work: string): Promise<RunResult> {
  const marker = `I3D_HOSTILE_RUN=${randomUUID()}`;
  const timeFile = join(work, `${randomUUID()}.time`);
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, BIN, '--threads', '1', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [marker.split('=')[0]!]: marker.split('=')[1]! },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-65536)));
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-65536)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, timeoutMs);
  const [status, signal] = await new Promise<[number | null, string | null]>((res) => child.on('close', (c, s) => res([c, s])));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  // /usr/bin/time reports a killed child as "Command terminated by signal N" and exits 128+N.
  const timeText = existsSync(timeFile) ? readFileSync(timeFile, 'utf8') : '';
  const rss = Number(/(\d+)\s*$/.exec(timeText.trim())?.[1] ?? 0) / 1024;
  const killed = /terminated by signal (\d+)/.exec(timeText);
  await new Promise((r) => setTimeout(r, 200));
  const leftovers = processesWith(marker);
  for (const l of leftovers)
    try {
      process.kill(Number(l.split(' ')[0]), 'SIGKILL');
    } catch {
      // gone
    }
  return {
    status: killed ? null : status,
    signal: killed ? `signal ${killed[1]}` : signal,
    timedOut,
    ms,
    maxRssMB: rss,
    stdout,
    stderr,
    leftovers,
  };
}

export function argsFor(cmd: CommandName, k: Kind, root: string, out: string): string[] {
  switch (cmd) {
    case 'preprocess':
      return ['preprocess', k.file, '--frames', '8', '--size', '32', '--resize', '32', '--timeout', '60', '--out', join(out, 'clip.npy')];
    case 'predict':
      return ['predict', k.file, '--weights', 'random', '--size', '32', '--resize', '32', '--json'];
    case 'flow':
      return ['flow', k.file, '--size', '32', '--crop', '32', '--max-frames', '4', '--no-cache', '--out', join(out, 'flow.npy')];
    case 'extract':
      return [
        'extract',
        k.file,
        '--backbone',
        'random',
        '--segments',
        '1',
        '--frames',
        '8',
        '--size',
        '32',
        '--resize',
        '32',
        '--out',
        out,
        '--json',
      ];
    case 'dataset inspect':
      return ['dataset', 'inspect', join(root, k.kind), '--json'];
    case 'train':
      return [
        'train',
        '--data',
        root,
        '--out',
        out,
        '--backbone',
        'random',
        '--width',
        '0.25',
        '--segments',
        '1',
        '--frames',
        '8',
        '--size',
        '32',
        '--resize',
        '32',
        '--lstm',
        '8,4',
        '--epochs',
        '1',
        '--batch',
        '2',
        '--workers',
        '1',
        '--json',
      ];
  }
}

export interface Outcome {
  kind: string;
  command: CommandName;
  /** 'ok' (exit 0) or 'error <status>'; 'CRASH', 'HANG' for defects. */
  outcome: string;
  pass: boolean;
  why: string;
  ms: number;
  maxRssMB: number;
  leftovers: number;
  /** The first line of stderr, for the table. */
  message: string;
}

/** Judges one run against the kind's documented outcome. */
export function judge(k: Kind, cmd: CommandName, r: RunResult): Outcome {
  const name = basename(k.file);
  const message = (r.stderr.split('\n').find((l) => l.startsWith('i3d: ') && !l.startsWith('i3d: warning')) ?? '').slice(0, 200);
  const base = { kind: k.kind, command: cmd, ms: r.ms, maxRssMB: r.maxRssMB, leftovers: r.leftovers.length, message };
  if (r.timedOut) return { ...base, outcome: 'HANG', pass: false, why: 'ran past the time limit' };
  if (r.status === null || r.status > 125) return { ...base, outcome: 'CRASH', pass: false, why: `${r.signal ?? `status ${r.status}`}` };
  if (r.leftovers.length) return { ...base, outcome: `status ${r.status}`, pass: false, why: `left behind: ${r.leftovers.join('; ')}` };
  if (r.status === 0) {
    // `dataset inspect` lists a bad video as unreadable; `extract` skips it (its "skipped" list, and a warning).
    if ((cmd === 'dataset inspect' || cmd === 'extract') && !k.expect.includes('ok')) {
      const said = (r.stdout + r.stderr).includes(name);
      const how = cmd === 'extract' ? 'skipped, named' : 'listed as unreadable';
      return { ...base, outcome: 'ok', pass: said, why: said ? how : 'not reported' };
    }
    return {
      ...base,
      outcome: 'ok',
      pass: k.expect.includes('ok'),
      why: k.expect.includes('ok') ? '' : 'accepted a file documented as bad',
    };
  }
  const named = message.includes(name) || (cmd === 'dataset inspect' && message.includes(k.kind));
  if (!named) return { ...base, outcome: `error ${r.status}`, pass: false, why: 'the message does not name the file' };
  return { ...base, outcome: `error ${r.status}`, pass: k.expect.some((e) => e !== 'ok') || k.kind === 'growing', why: '' };
}

/** The in-process reading of a kind: its VideoError code, or 'ok' with the decoded frame count. */
export async function readCode(k: Kind): Promise<string> {
  try {
    const info = await probeVideo(k.file, { timeoutMs: 60_000 });
    const n = await countFrames(k.file, { info, timeoutMs: 60_000 });
    return `ok (${n} frames, ${info.width}x${info.height}${info.rotation ? `, rotated ${info.rotation}` : ''})`;
  } catch (e) {
    return (e as { code?: string }).code ?? `unnamed: ${(e as Error).message}`;
  }
}

/** A dataset for `i3d train`: two classes of valid videos, and every hostile kind (as links) inside one of them. */
export function trainDataset(root: string, kinds: readonly Kind[], good: string): string {
  const d = join(root, '.train-data');
  rmSync(d, { recursive: true, force: true });
  for (const c of ['a', 'b']) {
    mkdirSync(join(d, c), { recursive: true });
    for (let i = 0; i < 3; i++) symlinkSync(good, join(d, c, `good${i}.mp4`));
  }
  for (const k of kinds) if (k.kind !== 'ok') symlinkSync(k.file, join(d, 'a', `${k.kind}-${basename(k.file)}`));
  return d;
}
