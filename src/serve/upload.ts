// Uploads stream to a private temporary folder (mode 0700, made at start with a unique name) as files with unique
// names (mode 0600, created exclusively), counted while they stream: past the limit the copy stops at once with
// 413. Every request removes its file when it ends, however it ends; the folder goes when the server closes.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ServeError } from './errors.js';

export class UploadDir {
  private constructor(readonly path: string) {}

  /** A new private folder under `parent` (default: the OS temporary folder). */
  static async create(parent = tmpdir()): Promise<UploadDir> {
    // mkdtemp makes the folder with mode 0700 and a random suffix.
    return new UploadDir(await mkdtemp(join(parent, 'i3d-serve-')));
  }

  /** A fresh file name inside the folder (no extension: ffmpeg probes the content, never trusts a name). */
  newPath(): string {
    return join(this.path, `upload-${randomUUID()}`);
  }

  /** Files left in the folder (tests: none between requests). */
  async files(): Promise<string[]> {
    try {
      return await readdir(this.path);
    } catch {
      return [];
    }
  }

  async removeFile(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async close(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

export function tooLarge(limit: number, what = 'the upload'): ServeError {
  return new ServeError('PAYLOAD_TOO_LARGE', `${what} is larger than the limit of ${formatBytes(limit)}`);
}

export function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${+(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

/**
 * Copies `source` into a new file at `path` (exclusive create, mode 0600), failing with 413 as soon as more than
 * `limit` bytes have come, and with the signal's reason when it aborts. Returns the byte count. The caller removes
 * the file in every case.
 */
export async function saveStream(source: Readable, path: string, limit: number, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > limit) cb(tooLarge(limit));
      else cb(null, chunk);
    },
  });
  const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  // Not stream.pipeline over the source: it would destroy a raw request body on failure, and with it the socket
  // that must carry the 413. The source is unpiped and paused instead; the route closes the connection after
  // the answer.
  const done = pipeline(counter, out, signal ? { signal } : {});
  const onSourceError = (e: Error) => counter.destroy(e);
  const onSourceClose = () => {
    if (!source.readableEnded) counter.destroy(new Error('the client closed the connection during the upload'));
  };
  source.once('error', onSourceError);
  source.once('close', onSourceClose);
  source.pipe(counter);
  try {
    await done;
  } catch (e) {
    source.unpipe(counter);
    source.pause();
    if (signal?.aborted && signal.reason instanceof Error) throw signal.reason;
    throw e;
  } finally {
    source.off('error', onSourceError);
    source.off('close', onSourceClose);
  }
  return bytes;
}

/** Writes bytes already in memory (a BYTES tensor) as an upload file. */
export async function saveBytes(data: Uint8Array, path: string): Promise<void> {
  await writeFile(path, data, { flag: 'wx', mode: 0o600 });
}
