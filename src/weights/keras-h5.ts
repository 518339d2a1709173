// Keras HDF5 weights (model.save_weights / model.save layout) read with h5wasm, checked name by name and
// shape by shape against a model before anything is copied.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import h5wasm from 'h5wasm/node';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { throwIfMismatched, WeightsError } from './errors.js';
import { isKernel, kerasName, kerasShape, TF_KERNEL_TO_OURS } from './names.js';

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

interface KerasWeight {
  shape: number[];
  read(): Float32Array;
}

function checkFile(path: string): void {
  if (!existsSync(path)) throw new WeightsError(`${path}: no such weights file`);
  if (!statSync(path).isFile()) throw new WeightsError(`${path}: not a file`);
  const head = Buffer.alloc(8);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (!SIGNATURE.every((b, i) => head[i] === b)) throw new WeightsError(`${path}: not an HDF5 file (no HDF5 signature)`);
}

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

function strings(v: unknown): string[] {
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
}

/** Every weight in a Keras HDF5 file by its name ('Conv3d_1a_7x7_conv/kernel:0'). The file stays open until close(). */
export async function openKerasH5(path: string): Promise<{ weights: Map<string, KerasWeight>; close(): void }> {
  checkFile(path);
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  try {
    const root = (file.keys().includes('model_weights') ? file.get('model_weights') : file) as H5Group;
    const layerNames = root.attrs['layer_names'];
    if (!layerNames) throw new WeightsError(`${path}: not a Keras weights file (no 'layer_names' attribute)`);
    const weights = new Map<string, KerasWeight>();
    for (const layer of strings(layerNames.value)) {
      const g = root.get(layer) as H5Group | null;
      const names = g?.attrs['weight_names'];
      if (!g || !names) continue;
      for (const wn of strings(names.value)) {
        const d = g.get(wn) as H5Dataset | null;
        if (!d) throw new WeightsError(`${path}: layer '${layer}' lists '${wn}' but has no such dataset`);
        weights.set(wn, {
          shape: [...(d.shape ?? [])],
          read: () => {
            const val = d.value;
            if (val instanceof Float32Array) return val;
            if (val instanceof Float64Array) return Float32Array.from(val);
            throw new WeightsError(`${path}: '${wn}' is ${d.dtype}, expected float32`);
          },
        });
      }
    }
    return { weights, close: () => file.close() };
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * Loads Keras HDF5 weights into `model` (an I3D). Refuses, before changing anything, a file whose names or
 * shapes do not fit, with a message listing the first mismatches.
 */
export async function loadKerasH5(model: Module, path: string): Promise<void> {
  const { weights, close } = await openKerasH5(path);
  try {
    const ours = [...model.stateTensors()].map(([name, t]) => ({ name, t, keras: kerasName(name) }));
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { name, t, keras } of ours) {
      const w = weights.get(keras);
      const want = kerasShape(keras, t.shape);
      if (!w) problems.push(`missing '${keras}' (for ${name}, shape [${want.join(', ')}])`);
      else if (w.shape.join() !== want.join()) problems.push(`'${keras}' has shape [${w.shape.join(', ')}], expected [${want.join(', ')}]`);
      used.add(keras);
    }
    for (const k of weights.keys()) if (!used.has(k)) problems.push(`unexpected '${k}' (shape [${weights.get(k)!.shape.join(', ')}])`);
    throwIfMismatched(path, problems);
    noGrad(() => {
      for (const { t, keras } of ours) {
        scope(() => {
          const w = weights.get(keras)!;
          let src = tensor(w.read(), w.shape);
          if (isKernel(keras)) src = src.permute(TF_KERNEL_TO_OURS);
          t.copyFrom(src);
        });
      }
    });
  } finally {
    close();
  }
}
