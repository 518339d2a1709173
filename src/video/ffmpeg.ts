// Running ffmpeg and ffprobe: argument arrays (never a shell), a process group per run so a timeout kills ffmpeg
// and anything it started, stderr kept for error messages, and no process left behind when we stop early or exit.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { VideoError } from './errors.js';

/** ffmpeg's executable: $I3D_FFMPEG, else `ffmpeg` on PATH (Debian's package). */
export function ffmpegBin(): string {
  return process.env.I3D_FFMPEG || 'ffmpeg';
}

/** ffprobe's executable: $I3D_FFPROBE, else `ffprobe` on PATH. */
export function ffprobeBin(): string {
  return process.env.I3D_FFPROBE || 'ffprobe';
}

/** Default hard time limit of one ffmpeg or ffprobe run. */
export const DEFAULT_TIMEOUT_MS = 120_000;

const live = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid);
  });
}

/** Process ids of the ffmpeg/ffprobe runs of this thread that have not ended yet (tests assert it is empty). */
export function liveProcesses(): number[] {
  return [...live];
}

export interface RunOptions {
  /** The input file, for error messages. */
  file: string;
  /** Hard limit in milliseconds; past it the whole process group is killed (default 120 s). */
  timeoutMs?: number;
  /** Keeps stdout (for ffprobe's JSON); by default stdout is for the caller to read from `stdout`. */
  collectStdout?: boolean;
  /** Aborting kills the process group (a request that was cancelled or ran out of time). */
  signal?: AbortSignal;
}

/**
 * The demuxers an untrusted file may be read with: containers of one file's streams. Playlists and indirection
 * formats (hls, dash, concat, sdp, rtp, image2 patterns, tty...) are not among them, so such a file can make ffmpeg
 * neither open another file nor a connection.
 */
export const SAFE_FORMATS: readonly string[] = [
  'matroska',
  'webm',
  'mov',
  'mp4',
  'm4a',
  '3gp',
  '3g2',
  'mj2',
  'avi',
  'gif',
  'mpegts',
  'flv',
  'ogg',
  'mpeg',
  'asf',
  'yuv4mpegpipe',
  'ivf',
  'h264',
  'hevc',
  'm4v',
  'mjpeg',
  'nut',
];

/** Input options for an untrusted file: only the `file` protocol and the demuxers of SAFE_FORMATS. */
export function untrustedInputArgs(): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', SAFE_FORMATS.join(',')];
}

export interface RunningProcess {
  readonly pid: number;
  readonly stdout: Readable;
  /** The end of stderr (the last 64 KiB). */
  stderr(): string;
  /** Resolves when the process has exited; `timedOut` when we killed it for the time limit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
  /** Kills the process group now (idempotent). */
  kill(): void;
}

/** Starts `bin args` in its own process group with stdin closed. Fails with NO_FFMPEG when `bin` is missing. */
export function start(bin: string, args: readonly string[], o: RunOptions): Promise<RunningProcess> {
  installExitHook();
  if (o.signal?.aborted) return Promise.reject(abortReason(o.signal));
  return new Promise((resolve, reject) => {
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    } catch (e) {
      reject(new VideoError('NO_FFMPEG', o.file, `cannot start ${bin}: ${(e as Error).message}`));
      return;
    }
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err += s;
      if (err.length > 65536) err = err.slice(-32768);
    });
    let timedOut = false;
    let ended = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((res) => {
      child.on('close', (code, signal) => {
        ended = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', kill);
        if (child.pid !== undefined) live.delete(child.pid);
        res({ code, signal, timedOut });
      });
    });
    const kill = () => {
      if (!ended && child.pid !== undefined) killGroup(child.pid);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    timer.unref();
    o.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (child.pid !== undefined) live.delete(child.pid);
      const why =
        e.code === 'ENOENT' ? `${bin} not found (install ffmpeg: sudo apt-get install ffmpeg)` : `cannot start ${bin}: ${e.message}`;
      reject(new VideoError('NO_FFMPEG', o.file, why));
    });
    child.once('spawn', () => {
      live.add(child.pid!);
      resolve({ pid: child.pid!, stdout: child.stdout, stderr: () => err, exited, kill });
    });
  });
}

/** Runs to the end and returns stdout and stderr; a timeout becomes a TIMEOUT VideoError. */
export async function run(
  bin: string,
  args: readonly string[],
  o: RunOptions,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = await start(bin, args, o);
  let out = '';
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (s: string) => {
    if (o.collectStdout !== false) out += s;
  });
  const r = await p.exited;
  if (o.signal?.aborted) throw abortReason(o.signal);
  if (r.timedOut) throw timeoutError(o.file, bin, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return { code: r.code, stdout: out, stderr: p.stderr() };
}

/** The reason a signal was aborted with, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted${r === undefined ? '' : `: ${String(r)}`}`);
}

export function timeoutError(file: string, bin: string, ms: number): VideoError {
  return new VideoError('TIMEOUT', file, `${bin.split('/').pop()} ran past the ${ms / 1000} s time limit and was killed`);
}

const TRUNCATION = /File ended prematurely|partial file|moov atom not found|Truncating packet|unexpected end of file|end of file reached/i;

/**
 * Turns ffmpeg's stderr into the error for a file it could not read: cut-short files are TRUNCATED, files
 * without a video stream NO_VIDEO_STREAM, the rest UNREADABLE with ffmpeg's own last message.
 */
export function readError(file: string, stderr: string): VideoError {
  if (/matches no streams|does not contain any stream|Output file #0 does not contain/i.test(stderr))
    return new VideoError('NO_VIDEO_STREAM', file, 'no video stream (audio only or no streams at all)');
  if (TRUNCATION.test(stderr)) return new VideoError('TRUNCATED', file, `the file is cut short (${lastLine(stderr, TRUNCATION)})`);
  return new VideoError('UNREADABLE', file, `ffmpeg cannot read it: ${lastLine(stderr) || 'no message'}`);
}

/** True when ffmpeg decoded but reported that the input ends early. */
export function reportsTruncation(stderr: string): boolean {
  return TRUNCATION.test(stderr);
}

/** A stderr line without ffmpeg's "[demuxer @ 0x...]" prefix and without the file path; the last, or the last matching. */
export function lastLine(stderr: string, match?: RegExp): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim())
    .filter((l) => l && (!match || match.test(l)));
  const l = lines[lines.length - 1] ?? '';
  // ffmpeg prefixes some messages with the input path; we name the file ourselves.
  const i = l.lastIndexOf(': ');
  return i > 0 && /(^|\/)[^/]+\.[A-Za-z0-9]+$/.test(l.slice(0, i)) ? l.slice(i + 2) : l;
}
