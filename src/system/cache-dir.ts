// Where the project caches downloads and computed data: $I3D_CACHE_DIR, else $XDG_CACHE_HOME/i3d, else ~/.cache/i3d.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.I3D_CACHE_DIR) return env.I3D_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'i3d');
}

/** A folder under the cache root (not created here). */
export function cacheDir(sub: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), sub);
}
