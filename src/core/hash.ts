// The one SHA-256 helper of the project (bytes, strings, files) and the one way to turn settings into a cache key:
// canonical JSON (object keys sorted at every level, undefined members left out) hashed, so that equal settings
// give equal keys whatever order their keys were written in.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { I3DError } from './errors.js';

/** SHA-256 (hex) of bytes or of a string's UTF-8; several parts are hashed one after the other. */
export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** An incremental SHA-256 (for data that arrives in pieces, e.g. a download or a model's tensors). */
export function sha256Stream(): { update(data: string | Uint8Array): void; digest(): string } {
  const h = createHash('sha256');
  return {
    update(data) {
      h.update(data);
    },
    digest: () => h.digest('hex'),
  };
}

/** SHA-256 (hex) of a file's bytes, streamed. The error names the file (and `what` it was read for). */
export async function sha256File(path: string, what = 'to hash it'): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new I3DError('I3D_FILE_UNREADABLE', `${path}: cannot read the file ${what} (${code ?? (e as Error).message})`, { cause: e });
  }
  return h.digest('hex');
}

/** JSON with object keys sorted at every level (undefined members left out); non-finite numbers are refused. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new I3DError('I3D_INVALID_ARGUMENT', `cache key: ${v} is not a finite number`);
  if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol' || v === undefined)
    throw new I3DError('I3D_INVALID_ARGUMENT', `cache key: a ${typeof v} cannot be part of a key`);
  return JSON.stringify(v);
}

/** The cache key of `settings`: SHA-256 (hex) of their canonical JSON, optionally cut to `length` hex digits. */
export function stableKey(settings: unknown, length = 64): string {
  return sha256(canonicalJson(settings)).slice(0, length);
}
