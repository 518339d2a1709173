// Videos the tests generate with ffmpeg into a temporary folder, and checks that no ffmpeg outlives a test.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveProcesses } from '../src/video/ffmpeg.js';
import { SHARED } from './helpers.js';

export const VIDEOS = join(SHARED, 'data/videos');
export const CRICKET_GIF = join(SHARED, 'data/kinetics-i3d/v_CricketShot_g04_c01_rgb.gif');
export const ASL = ['again', 'bird', 'book', 'brother', 'eat', 'help', 'hungry', 'learn'].map((w) => join(VIDEOS, `asl_${w}.mkv`));
export const BOTTLE = join(VIDEOS, 'bottle-detection.mp4');

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs ffmpeg (argument array, no shell) to make a test file; returns its path. */
export function ffmpeg(out: string, args: string[]): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args, out], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
  return out;
}

/** Smooth colour waves that move from frame to frame (every frame differs; no sharp edges for chroma subsampling to blur). */
const WAVES = "geq=lum='128+100*sin(X/7+N/2)*cos(Y/9)':cb='128+60*sin(Y/11-N/3)':cr='128+60*cos(X/13+N/4)'";

/** A synthetic video: `frames` frames of width x height at `rate` fps, lossless (FFV1 in Matroska) unless told. */
export function pattern(
  out: string,
  o: { frames: number; width: number; height: number; rate?: number; pixFmt?: string; codec?: string[] },
): string {
  return ffmpeg(out, [
    '-f',
    'lavfi',
    '-i',
    `nullsrc=s=${o.width}x${o.height}:r=${o.rate ?? 25},format=yuv444p,${WAVES}`,
    '-frames:v',
    String(o.frames),
    ...(o.codec ?? ['-c:v', 'ffv1']),
    '-pix_fmt',
    o.pixFmt ?? 'yuv420p',
  ]);
}

/** Asserts that no ffmpeg/ffprobe we started is still running: neither in our tracking nor among our child processes. */
export function assertNoFfmpegLeft(): void {
  assert.deepEqual(liveProcesses(), [], 'tracked ffmpeg processes still running');
  const r = spawnSync('pgrep', ['-a', '-P', String(process.pid)], { encoding: 'utf8' });
  const left = r.stdout.split('\n').filter((l) => /ff(mpeg|probe)/.test(l));
  assert.deepEqual(left, [], 'ffmpeg child processes still running');
}
