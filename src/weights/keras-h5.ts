// Keras HDF5 weights (model.save_weights / model.save layout) read with h5wasm, checked name by name and
// shape by shape against a model before anything is copied.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import h5wasm from 'h5wasm/node';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { throwIfMismatched, WeightsError } from './errors.js';
import { checkH5Reads } from './h5-check.js';
import { isKernel, kerasName, kerasShape, TF_KERNEL_TO_OURS } from './names.js';

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

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
type H5Attrs = H5Group['attrs'];

/**
 * An attribute's value as a list of names. Keras writes name lists as arrays of byte strings (h5py: fixed-length
 * 'S'), other writers as unicode (variable-length UTF-8); h5wasm returns both as JS strings. An empty list is
 * stored by h5py as an empty float64 array (h5wasm: Float64Array(0)), or of any other dtype, or as a null
 * dataspace (h5wasm: null): all of these are no names. A non-empty numeric array is not a list of names.
 */
function nameList(v: unknown, what: string): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (ArrayBuffer.isView(v)) {
    if ((v as unknown as ArrayLike<unknown>).length === 0) return [];
    throw new WeightsError(`${what} holds numbers, not names`);
  }
  const arr: unknown[] = Array.isArray(v) ? v : [v];
  return arr.map((x) => {
    if (typeof x === 'string') return x;
    if (x instanceof Uint8Array) return new TextDecoder().decode(x).replace(/\0+$/, '');
    throw new WeightsError(`${what} holds a ${typeof x}, not a name`);
  });
}

/**
 * A list attribute as Keras reads it (load_attributes_from_hdf5_group): `name`, or, when Keras had to split a list
 * longer than HDF5's 64 KiB header limit, `name0`, `name1`, ... in order. Undefined when there is none.
 */
function listAttr(attrs: H5Attrs, name: string, what: string): string[] | undefined {
  if (name in attrs) return nameList(attrs[name]!.value, what);
  if (!(`${name}0` in attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...nameList(attrs[`${name}${i}`]!.value, `${what} (chunk ${i})`));
  return out;
}

/** Keras 2 weight names end in '<layer>/<kind>:0'. */
const KERAS2_KINDS = new Set(['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance']);
/** Keras 1.2 names its weights '<layer>_<suffix>:0' (its batch norm's 'running_std' holds the variance). */
const KERAS1_SUFFIXES: ReadonlyArray<readonly [string, string]> = [
  ['_W', 'kernel'],
  ['_b', 'bias'],
  ['_gamma', 'gamma'],
  ['_beta', 'beta'],
  ['_running_mean', 'moving_mean'],
  ['_running_std', 'moving_variance'],
];

/**
 * The Keras 2 name ('<layer>/<kind>:0') of a weight listed as `listed` in the group of layer `layer`. The layer is
 * the name's scope (a nested model's group lists its inner layers' weights) or else the group; TensorFlow's
 * uniquifying suffix ('Conv3d_1a_7x7_conv_1/kernel:0', Keras 1's 'Conv3d_1a_7x7_conv_W_1:0') is dropped.
 * A weight of a kind we do not know keeps its listed name, so that a refusal names it as the file does.
 */
export function canonicalWeightName(layer: string, listed: string): string {
  const parts = listed.split('/');
  const leaf = parts[parts.length - 1]!.replace(/:\d+$/, '');
  let owner = parts.length > 1 ? parts[parts.length - 2]! : layer;
  if (owner !== layer && owner.startsWith(`${layer}_`) && /^\d+$/.test(owner.slice(layer.length + 1))) owner = layer;
  if (KERAS2_KINDS.has(leaf)) return `${owner}/${leaf}:0`;
  for (const stem of [leaf, leaf.replace(/_\d+$/, '')])
    for (const [suffix, kind] of KERAS1_SUFFIXES) if (stem === owner + suffix) return `${owner}/${kind}:0`;
  return listed;
}

/** One weight of a Keras file: its shape, the layer whose group holds it, the name the file lists, and its values. */
export interface KerasWeight {
  shape: number[];
  layer: string;
  listed: string;
  read(): Float32Array;
}

/** What a Keras HDF5 file says about itself (root attributes; the model_weights group's for model.save files). */
export interface KerasFileInfo {
  /** 'save_weights' (layers at the root) or 'model.save' (layers in the model_weights group). */
  layout: 'save_weights' | 'model.save';
  kerasVersion?: string;
  backend?: string;
  /** Every layer of `layer_names`, in order, weightless ones included. */
  layers: string[];
}

function stringAttr(attrs: H5Attrs, name: string): string | undefined {
  const v = name in attrs ? attrs[name]!.value : undefined;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

/**
 * Every weight in a Keras HDF5 file (save_weights or model.save, Keras 1.2 or 2) by its Keras 2 name
 * ('Conv3d_1a_7x7_conv/kernel:0'). Weightless layers (input, pools, activations, concatenations, dropout, reshape,
 * lambda: empty `weight_names`) contribute nothing, whatever their names. The file stays open until close().
 */
export async function openKerasH5(path: string): Promise<{ weights: Map<string, KerasWeight>; info: KerasFileInfo; close(): void }> {
  checkFile(path);
  await checkH5Reads(path);
  await h5wasm.ready;
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (e) {
    throw new WeightsError(`${path}: not a readable HDF5 file (${e instanceof Error ? e.message : String(e)})`);
  }
  const fileBytes = statSync(path).size;
  try {
    const keys = file.keys();
    const modelSave = keys.includes('model_weights');
    const root = (modelSave ? file.get('model_weights') : file) as H5Group;
    const where = modelSave ? "the 'model_weights' group" : 'the root';
    const layers = listAttr(root.attrs, 'layer_names', `${path}: 'layer_names' of ${where}`);
    if (!layers) {
      const hint =
        keys.includes('layers') || keys.includes('vars') ? ' (this looks like a Keras 3 .weights.h5 file, which is not supported)' : '';
      throw new WeightsError(`${path}: not a Keras weights file (no 'layer_names' attribute in ${where})${hint}`);
    }
    const info: KerasFileInfo = {
      layout: modelSave ? 'model.save' : 'save_weights',
      kerasVersion: stringAttr(root.attrs, 'keras_version') ?? stringAttr(file.attrs, 'keras_version'),
      backend: stringAttr(root.attrs, 'backend') ?? stringAttr(file.attrs, 'backend'),
      layers,
    };
    const weights = new Map<string, KerasWeight>();
    const groups = new Set(root.keys());
    for (const layer of layers) {
      const g = groups.has(layer) ? root.get(layer) : null;
      if (!(g instanceof h5wasm.Group)) throw new WeightsError(`${path}: layer '${layer}' is listed in 'layer_names' but has no group`);
      const listed = listAttr(g.attrs, 'weight_names', `${path}: 'weight_names' of layer '${layer}'`);
      if (!listed) throw new WeightsError(`${path}: layer '${layer}' has no 'weight_names' attribute`);
      for (const wn of listed) {
        const d = g.get(wn);
        if (!(d instanceof h5wasm.Dataset)) throw new WeightsError(`${path}: layer '${layer}' lists '${wn}' but has no such dataset`);
        const name = canonicalWeightName(layer, wn);
        const twin = weights.get(name);
        if (twin)
          throw new WeightsError(
            `${path}: '${name}' is stored twice (as '${twin.listed}' in layer '${twin.layer}' and '${wn}' in layer '${layer}')`,
          );
        weights.set(name, weightOf(path, d as H5Dataset, layer, wn, fileBytes));
      }
    }
    return { weights, info, close: () => file.close() };
  } catch (e) {
    file.close();
    if (e instanceof WeightsError) throw e;
    // h5wasm's own failures on a corrupt file (HDF5 errors, out-of-range reads) name neither the file nor a code.
    throw new WeightsError(`${path}: a corrupt HDF5 file (${e instanceof Error ? e.message : String(e)})`);
  }
}

function weightOf(path: string, d: H5Dataset, layer: string, listed: string, fileBytes: number): KerasWeight {
  return {
    shape: [...(d.shape ?? [])],
    layer,
    listed,
    read: () => {
      // Keras stores weights uncompressed: a dataset that declares more bytes than the file holds is a lie, refused
      // before h5wasm allocates for it.
      const declared = (d.shape ?? []).reduce((a, n) => a * n, 1) * 4;
      if (declared > fileBytes)
        throw new WeightsError(`${path}: '${listed}' (layer '${layer}') declares ${declared} bytes, the file has ${fileBytes}`);
      let val: unknown;
      try {
        val = d.value;
      } catch (e) {
        throw new WeightsError(`${path}: '${listed}' (layer '${layer}') does not read (${e instanceof Error ? e.message : String(e)})`);
      }
      if (val instanceof Float32Array) return val;
      if (val instanceof Float64Array) return Float32Array.from(val);
      throw new WeightsError(`${path}: '${listed}' (layer '${layer}') is ${JSON.stringify(d.dtype)}, expected float32`);
    },
  };
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
    for (const [k, w] of weights)
      if (!used.has(k)) {
        const as = w.listed === k ? '' : `, listed as '${w.listed}'`;
        problems.push(`unexpected '${k}' (shape [${w.shape.join(', ')}]) in layer '${w.layer}'${as}`);
      }
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
