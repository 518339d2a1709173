// Writes RGB frames as a video file with ffmpeg (frames piped in as raw rgb24), atomically: the video appears
// under its name only once ffmpeg has finished it (fsynced and renamed, core/storage.ts).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { extname } from 'node:path';
import { publishFile, tempPathFor } from '../core/storage.js';
import { ffmpegBin } from './ffmpeg.js';
import { VideoError } from './errors.js';

export interface EncodeOptions {
  width: number;
  height: number;
  fps?: number;
  /** ffmpeg video codec arguments (default: MPEG-4 part 2 at high quality, as UCF-101's .avi files). */
  codecArgs?: readonly string[];
}

/** Encodes `frames` (each width * height * 3 bytes, RGB) into `file` (the container from its extension). */
export async function writeVideo(file: string, frames: Iterable<Uint8Array>, o: EncodeOptions): Promise<void> {
  const tmp = tempPathFor(file, extname(file));
  const args = [
    ...[
      '-v',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${o.width}x${o.height}`,
      '-r',
      String(o.fps ?? 25),
      '-i',
      'pipe:0',
    ],
    ...(o.codecArgs ?? ['-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p']),
    tmp,
  ];
  const child = spawn(ffmpegBin(), args, { stdio: ['pipe', 'ignore', 'pipe'], shell: false });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr = (stderr + s).slice(-4096)));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', (e) => reject(new VideoError('NO_FFMPEG', file, `cannot start ffmpeg: ${e.message}`)));
    child.once('close', (code) => resolve(code));
  });
  const size = o.width * o.height * 3;
  try {
    for (const f of frames) {
      if (f.length !== size)
        throw new VideoError('UNREADABLE', file, `a frame of ${f.length} bytes, expected ${size} (${o.width}x${o.height} RGB)`);
      if (!child.stdin.write(f)) await new Promise<void>((r) => child.stdin.once('drain', () => r()));
    }
    child.stdin.end();
    const code = await closed;
    if (code !== 0)
      throw new VideoError('UNREADABLE', file, `ffmpeg could not write the video (${stderr.trim().split('\n').pop() ?? `exit ${code}`})`);
    publishFile(tmp, file);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(tmp, { force: true });
    throw e;
  }
}
