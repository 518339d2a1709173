// Where the project caches downloads and computed data: $I3D_CACHE_DIR, else $XDG_CACHE_HOME/i3d, else ~/.cache/i3d.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(): string {
  const own = process.env.I3D_CACHE_DIR;
  if (own) return own;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(homedir(), '.cache'), 'i3d');
}

/** A folder under the cache root (not created here). */
export function cacheDir(sub: string): string {
  return join(cacheRoot(), sub);
}
