// A first reading of an HDF5 file in a worker thread, under a time limit. The HDF5 library (h5wasm) can loop forever
// on a corrupt file (a bit flip in an attribute's heap, found by the reliability fuzzer): the worker walks every
// group, attribute and dataset once, and is terminated when it runs past the limit, so a lying file becomes a
// WeightsError instead of a hang. The real reading (keras-h5.ts) happens only after this one has finished.
import { statSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import h5wasm from 'h5wasm/node';
import { WeightsError } from './errors.js';

/** 10 s plus 1 s per 10 MB: reading a sound file takes far less. */
function limitMs(bytes: number): number {
  return 10_000 + Math.ceil(bytes / 10e6) * 1000;
}

/** Resolves when `path` reads as HDF5 (every object, attribute and dataset) within the time limit. */
export function checkH5Reads(path: string): Promise<void> {
  const ms = limitMs(statSync(path).size);
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { path } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new WeightsError(`${path}: the HDF5 file does not read within ${ms / 1000} s (a corrupt file)`));
    }, ms);
    w.once('message', (m: { error?: string }) => {
      clearTimeout(timer);
      void w.terminate();
      if (m.error) reject(new WeightsError(`${path}: a corrupt HDF5 file (${m.error})`));
      else resolve();
    });
    w.once('error', (e) => {
      clearTimeout(timer);
      reject(new WeightsError(`${path}: a corrupt HDF5 file (${e.message})`));
    });
  });
}

type H5Group = InstanceType<typeof h5wasm.Group>;

async function walkFile(path: string): Promise<void> {
  await h5wasm.ready;
  const bytes = statSync(path).size;
  const file = new h5wasm.File(path, 'r');
  try {
    const walk = (g: H5Group) => {
      for (const a of Object.values(g.attrs)) void a.value;
      for (const k of g.keys()) {
        const x = g.get(k);
        if (x instanceof h5wasm.Group) walk(x);
        else if (x instanceof h5wasm.Dataset) {
          for (const a of Object.values(x.attrs)) void a.value;
          // Values only where the declared size fits in the file (keras-h5.ts refuses the others).
          if ((x.shape ?? []).reduce((n, d) => n * d, 1) * 4 <= bytes) void x.value;
        }
      }
    };
    walk(file);
  } finally {
    file.close();
  }
}

if (!isMainThread && (workerData as { path?: string } | null)?.path) {
  const { path } = workerData as { path: string };
  walkFile(path).then(
    () => parentPort!.postMessage({}),
    (e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
}
