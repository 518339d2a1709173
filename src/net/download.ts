// Downloads a URL to a file: streamed to `<file>.part`, resumed with a Range request when a partial file is
// there, checked against a SHA-256 when one is known, then fsynced and renamed into place (a reader never sees half
// a file). The part belongs to one process at a time: a lock (`<file>.part.lock`, core/lock.ts) makes a second
// download of the same file wait for the first instead of appending to the same part.
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { sha256File, sha256Stream } from '../core/hash.js';
import { lock } from '../core/lock.js';
import { publishFile } from '../core/storage.js';
import { I3DError } from '../core/errors.js';

/** A download that failed: network, HTTP status, checksum or idle time-out (I3D_DOWNLOAD). */
export class DownloadError extends I3DError {
  declare readonly code: 'I3D_DOWNLOAD';
  readonly url: string;
  readonly file: string;
  constructor(url: string, file: string, message: string, options?: { cause?: unknown }) {
    super('I3D_DOWNLOAD', message, options);
    this.name = 'DownloadError';
    this.url = url;
    this.file = file;
  }
}

export interface DownloadProgress {
  /** Bytes on disk so far, including a resumed part. */
  received: number;
  /** Total size when the server says it, else null. */
  total: number | null;
  /** Bytes that were already there from an earlier, interrupted download. */
  resumedFrom: number;
}

export interface DownloadOptions {
  /** Expected SHA-256 (hex); the download fails, and the partial file is deleted, when it differs. */
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Abort when no data arrives for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** How long to wait for another process downloading the same file (default 10 minutes); then I3D_LOCKED. */
  lockWaitMs?: number;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  bytes: number;
  resumedFrom: number;
  /**
   * Whether the file is known to be whole: its pinned SHA-256 matched, or the server stated the size and exactly
   * that many bytes arrived. Only a verified download may serve as a checksum's reference.
   */
  verified: boolean;
}

async function hashInto(path: string, hash: ReturnType<typeof sha256Stream>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Total size from a 200's Content-Length or a 206's Content-Range ("bytes a-b/total"). */
function totalSize(res: Response, offset: number): number | null {
  const range = res.headers.get('content-range');
  const m = range ? /\/(\d+)\s*$/.exec(range) : null;
  if (m) return Number(m[1]);
  const len = res.headers.get('content-length');
  return len === null ? null : Number(len) + offset;
}

export async function download(url: string, file: string, o: DownloadOptions = {}): Promise<DownloadResult> {
  const part = `${file}.part`;
  mkdirSync(dirname(file), { recursive: true });
  const held = await lock(`${part}.lock`, {
    waitMs: o.lockWaitMs ?? 600_000,
    what: `the download of ${file}`,
    purpose: `download of ${url}`,
  });
  try {
    // Another process may have completed it while we waited.
    if (o.sha256 && !existsSync(part) && existsSync(file) && (await sha256File(file)) === o.sha256.toLowerCase())
      return { path: file, sha256: o.sha256.toLowerCase(), bytes: statSync(file).size, resumedFrom: 0, verified: true };
    return await downloadLocked(url, file, part, o);
  } finally {
    held.release();
  }
}

async function downloadLocked(url: string, file: string, part: string, o: DownloadOptions): Promise<DownloadResult> {
  let offset = existsSync(part) ? statSync(part).size : 0;
  const idle = o.idleTimeoutMs ?? 30_000;
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(new Error(`no data for ${idle / 1000} s`)), idle);
  };
  const fail = (why: string, cause?: unknown): never => {
    throw new DownloadError(url, file, `download of ${url} failed: ${why}`, cause === undefined ? undefined : { cause });
  };
  try {
    arm();
    let res: Response;
    try {
      res = await fetch(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal: ctrl.signal, redirect: 'follow' });
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      return fail(c?.code ?? c?.message ?? (e instanceof Error ? e.message : String(e)), e);
    }
    const hash = sha256Stream();
    let whole = false;
    if (res.status === 416 && offset > 0) {
      // The part already holds the whole file: verify it below.
      await res.body?.cancel();
    } else {
      if (res.status === 200 && offset > 0)
        offset = 0; // the server ignored the range: start over
      else if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        fail(`HTTP ${res.status} ${res.statusText}`);
      }
      if (res.status === 206) {
        const start = /bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '');
        if (!start || Number(start[1]) !== offset) fail(`the server resumed at the wrong place (${res.headers.get('content-range')})`);
      }
      if (offset > 0) await hashInto(part, hash);
      const total = totalSize(res, offset);
      const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
      let received = offset;
      o.onProgress?.({ received, total, resumedFrom: offset });
      try {
        if (!res.body) fail('the response has no body');
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          arm();
          hash.update(chunk);
          received += chunk.length;
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
          o.onProgress?.({ received, total, resumedFrom: offset });
        }
      } catch (e) {
        if (e instanceof DownloadError) throw e;
        fail(`interrupted after ${received} bytes (${e instanceof Error ? e.message : String(e)}); run again to resume`, e);
      } finally {
        out.end();
        await finished(out);
      }
      if (total !== null && received !== total) fail(`got ${received} of ${total} bytes; run again to resume`);
      whole = total !== null;
    }
    if (res.status === 416) await hashInto(part, hash);
    const digest = hash.digest();
    if (o.sha256 && digest !== o.sha256.toLowerCase()) {
      rmSync(part, { force: true });
      fail(`checksum mismatch: SHA-256 ${digest}, expected ${o.sha256} (the partial file was deleted)`);
    }
    publishFile(part, file);
    return { path: file, sha256: digest, bytes: statSync(file).size, resumedFrom: offset, verified: whole || Boolean(o.sha256) };
  } finally {
    clearTimeout(timer);
  }
}
