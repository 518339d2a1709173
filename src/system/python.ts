// Finds a Python with PyTorch (Debian's python3-torch), the peer that benchmarks and fixture scripts use.
import { spawnSync } from 'node:child_process';

export interface PythonTorch {
  python: string;
  torch: string;
}

let cached: PythonTorch | null | undefined;

/** $I3D_PYTHON, then `python3` on PATH, then Debian's /usr/bin/python3: the first that imports torch. */
export function findPythonTorch(): PythonTorch | null {
  if (cached !== undefined) return cached;
  const candidates = [process.env.I3D_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  cached = null;
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0 && r.stdout.trim()) {
      cached = { python, torch: r.stdout.trim() };
      break;
    }
  }
  return cached;
}
