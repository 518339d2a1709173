// Atomic file writes, the one way the project saves a file: the data goes to a temporary file with a unique name in
// the same folder (`.<name>.<pid>.<random>.tmp`, so two writers never share one), the file is fsynced, renamed over
// the target and the folder is fsynced (so the rename itself survives a power cut). A reader sees the old file or
// the new one, never half of one; on any failure (ENOSPC included) the temporary file is removed, the previous
// file is left as it was and the error is I3D_DISK naming the file.
//
// Hand-written rather than npm's write-file-atomic: that library fsyncs the file but not the folder, and its
// temporary names (`<file>.<murmurhash>`) live beside the file without a leading dot; the part needed here is
// thirty lines.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { I3DError } from './errors.js';

export type Chunk = string | Uint8Array;

/**
 * A fresh temporary name beside `path`: `.<name>.<pid>.<random>.tmp` (hidden, unique per process and call), plus
 * `ext` when a writer needs one (ffmpeg picks the container from it).
 */
export function tempPathFor(path: string, ext = ''): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp${ext}`);
}

/** Whether a file name is one of tempPathFor's (for clean-ups and tests). */
export function isTempName(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{12}\.tmp(\.\w+)?$/.test(name);
}

/** fsync a folder, so that a rename or a new file in it is on disk. Where folders cannot be opened (Windows), a no-op. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes all of `data` at the file position (writeSync may write less than asked). */
export function writeAll(fd: number, data: Chunk): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 26));
}

/** Removes a temporary file, if there; never throws (the error being reported matters more). */
function removeTemp(tmp: string): void {
  try {
    rmSync(tmp, { force: true });
  } catch {
    // e.g. ENOTDIR: the folder it would be in does not exist as a folder
  }
}

/** The error of a failed write: an fs error becomes I3D_DISK naming the file; anything else is passed on. */
function diskError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (e instanceof I3DError || typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return e;
  const why =
    code === 'ENOSPC'
      ? 'no space left on the device'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : (e as Error).message;
  return new I3DError('I3D_DISK', `${path}: cannot write (${code}: ${why}); any previous ${basename(path)} is intact`, { cause: e });
}

export interface AtomicOptions {
  /** File mode of the new file (default 0o666 less the umask). */
  mode?: number;
  /** Create the folder when missing (default true). */
  mkdir?: boolean;
}

/** Renames a finished temporary file over `path` and fsyncs the folder. The temporary file must be fsynced. */
function publish(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/**
 * Writes a file atomically, streaming: `write(fd)` fills a fresh temporary file (use writeAll), then it is
 * fsynced and renamed over `path`. Whatever `write` throws is passed on (fs errors as I3D_DISK), with no file left.
 */
export function writeFileAtomicWith(path: string, write: (fd: number) => void, o: AtomicOptions = {}): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    if (o.mkdir !== false) mkdirSync(dirname(path), { recursive: true });
    fd = openSync(tmp, 'wx', o.mode);
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    publish(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeTemp(tmp);
    throw diskError(path, e);
  }
}

/** Writes `data` (bytes, a string as UTF-8, or several such chunks in order) to `path` atomically. */
export function writeFileAtomic(path: string, data: Chunk | readonly Chunk[], o: AtomicOptions = {}): void {
  writeFileAtomicWith(
    path,
    (fd) => {
      for (const c of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) writeAll(fd, c);
    },
    o,
  );
}

/** JSON (2-space indented, with a final newline) written atomically. */
export function writeJsonAtomic(path: string, value: unknown, o: AtomicOptions = {}): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, o);
}

/**
 * Writes a file atomically from an asynchronous producer (a stream, a child process, a download): `produce(tmp)`
 * creates the temporary file `tmp` and resolves when it is complete; it is then fsynced and renamed over `path`.
 * On a failure the temporary file is removed and the error passed on (fs errors as I3D_DISK).
 */
export async function writeFileAtomicAsync(path: string, produce: (tmp: string) => Promise<void>, o: AtomicOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    if (o.mkdir !== false) mkdirSync(dirname(path), { recursive: true });
    await produce(tmp);
    publishFile(tmp, path);
  } catch (e) {
    removeTemp(tmp);
    throw diskError(path, e);
  }
}

/** Makes a complete file `tmp` (in the same folder) become `path`: fsync it, rename it, fsync the folder. */
export function publishFile(tmp: string, path: string): void {
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  publish(tmp, path);
}
