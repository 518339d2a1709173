// TensorFlow checkpoints of deepmind/kinetics-i3d: `model.ckpt.index` (an SSTable of BundleEntryProto records)
// and `model.ckpt.data-0000N-of-0000M` (the tensors' bytes), with crc32c verification of every tensor.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import crc32c from 'crc-32/crc32c.js';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../tensor/context.js';
import { tensor } from '../tensor/tensor.js';
import { throwIfMismatched, WeightsError } from './errors.js';
import { tfKernelShape, TF_KERNEL_TO_OURS } from './names.js';

export interface CheckpointEntry {
  name: string;
  /** 'float32' (DT_FLOAT) or the TensorFlow DataType number of another type. */
  dtype: string;
  shape: number[];
  shard: number;
  offset: number;
  size: number;
  /** Masked CRC-32C of the tensor's bytes, as TensorFlow stores it. */
  crc32c: number;
  /** Slices of a partitioned variable (BundleEntryProto.slices): its bytes are in other entries. 0 for whole tensors. */
  slices: number;
}

export interface CheckpointIndex {
  shards: number;
  entries: Map<string, CheckpointEntry>;
}

const TABLE_MAGIC = 0xdb4775248b80fb57n;
const DTYPES: Record<number, string> = { 1: 'float32', 2: 'float64', 3: 'int32', 9: 'int64', 14: 'bfloat16', 19: 'float16' };

// The parsing below throws plain Errors: readCheckpointIndex turns each into a WeightsError naming the file.

/** A cursor over protobuf / LevelDB varints. */
class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    readonly end = buf.length,
  ) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }
  fixed32(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getUint32(0, true);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** The key/value records of one SSTable block (prefix-compressed keys, restart array at the end). */
function blockRecords(block: Uint8Array): [string, Uint8Array][] {
  const dv = new DataView(block.buffer, block.byteOffset, block.length);
  const restarts = dv.getUint32(block.length - 4, true);
  const end = block.length - 4 - 4 * restarts;
  const r = new Reader(block, 0, end);
  const out: [string, Uint8Array][] = [];
  let key = new Uint8Array(0);
  const dec = new TextDecoder();
  while (r.pos < end) {
    const shared = r.varint();
    const unshared = r.varint();
    const valueLength = r.varint();
    // Checked before allocating: a lying record must not size a buffer.
    if (shared > key.length || unshared > end - r.pos) throw new Error('corrupt block record');
    const next = new Uint8Array(shared + unshared);
    next.set(key.subarray(0, shared));
    next.set(r.bytes(unshared), shared);
    key = next;
    out.push([dec.decode(key), r.bytes(valueLength)]);
  }
  return out;
}

function readBlock(file: Uint8Array, handle: Uint8Array): Uint8Array {
  const h = new Reader(handle);
  const offset = h.varint();
  const size = h.varint();
  if (offset + size + 5 > file.length) throw new Error('block beyond the end of the file');
  if (file[offset + size] !== 0) throw new Error('compressed blocks are not supported');
  return file.subarray(offset, offset + size);
}

function parseEntry(name: string, value: Uint8Array): CheckpointEntry {
  const r = new Reader(value);
  const e: CheckpointEntry = { name, dtype: 'unknown', shape: [], shard: 0, offset: 0, size: 0, crc32c: 0, slices: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = r.varint();
      // BundleEntryProto: dtype 1, shape 2, shard_id 3, offset 4, size 5, crc32c 6 (fixed32)
      if (field === 1) e.dtype = DTYPES[v] ?? `tf-dtype-${v}`;
      else if (field === 3) e.shard = v;
      else if (field === 4) e.offset = v;
      else if (field === 5) e.size = v;
    } else if (wire === 5) {
      const v = r.fixed32();
      if (field === 6) e.crc32c = v;
    } else if (wire === 2) {
      const sub = r.bytes(r.varint());
      if (field === 7)
        e.slices++; // repeated TensorSliceProto slices = 7
      else if (field === 2) {
        // TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
        const s = new Reader(sub);
        while (s.pos < s.end) {
          const t = s.varint();
          if (t >>> 3 === 2 && (t & 7) === 2) {
            const dim = new Reader(s.bytes(s.varint()));
            while (dim.pos < dim.end) {
              const dt = dim.varint();
              if (dt >>> 3 === 1 && (dt & 7) === 0) e.shape.push(dim.varint());
              else if ((dt & 7) === 2) dim.bytes(dim.varint());
              else dim.varint();
            }
          } else if ((t & 7) === 2) s.bytes(s.varint());
          else s.varint();
        }
      }
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return e;
}

/** Lists every tensor of a checkpoint's `.index` file (name, dtype, shape, shard, offset, size, crc32c). */
export function readCheckpointIndex(indexPath: string): CheckpointIndex {
  if (!existsSync(indexPath)) throw new WeightsError(`${indexPath}: no such checkpoint index file`);
  const file = new Uint8Array(readFileSync(indexPath));
  try {
    if (file.length < 48) throw new Error('too short for a table footer');
    const magic = new DataView(file.buffer, file.byteOffset + file.length - 8, 8).getBigUint64(0, true);
    if (magic !== TABLE_MAGIC) throw new Error('no SSTable magic number at the end');
    const footer = new Reader(file, file.length - 48, file.length - 8);
    footer.varint(); // metaindex handle
    footer.varint();
    const indexHandle = footer.pos; // offset and size varints, read by readBlock
    footer.varint();
    footer.varint();
    const index = readBlock(file, file.subarray(indexHandle, footer.pos));
    const entries = new Map<string, CheckpointEntry>();
    let shards = 1;
    for (const [, handle] of blockRecords(index)) {
      for (const [key, value] of blockRecords(readBlock(file, handle))) {
        if (key === '') {
          const h = new Reader(value); // BundleHeaderProto: num_shards = 1, endianness = 2 (LITTLE = 0, BIG = 1)
          while (h.pos < h.end) {
            const tag = h.varint();
            if ((tag & 7) === 0) {
              const v = h.varint();
              if (tag >>> 3 === 1) shards = v;
              if (tag >>> 3 === 2 && v !== 0)
                throw new WeightsError(`${indexPath}: a big-endian checkpoint (written on a big-endian machine), which is not supported`);
            } else if ((tag & 7) === 2) h.bytes(h.varint());
            else if ((tag & 7) === 5) h.fixed32();
          }
        } else entries.set(key, parseEntry(key, value));
      }
    }
    return { shards, entries };
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(`${indexPath}: not a readable TensorFlow checkpoint index (${(e as Error).message})`);
  }
}

/**
 * Our parameter name for a checkpoint tensor, or null for tensors that are not model weights (optimizer
 * slots such as '.../beta/Momentum', global step). E.g. 'RGB/inception_i3d/Mixed_3b/Branch_1/Conv3d_0b_3x3/conv_3d/w'
 * -> 'Mixed_3b.Conv3d_3b_1b_3x3.conv.weight'.
 */
export function checkpointToOurs(name: string): string | null {
  // The Kinetics-600 checkpoint names its tensors without the 'RGB/inception_i3d/' scope.
  const parts = name.replace(/^(?:RGB|Flow)\/inception_i3d\//, '').split('/');
  const leafMap: Record<string, string> = {
    'conv_3d/w': 'conv.weight',
    'conv_3d/b': 'conv.bias',
    'batch_norm/beta': 'bn.beta',
    'batch_norm/moving_mean': 'bn.running_mean',
    'batch_norm/moving_variance': 'bn.running_var',
  };
  const leaf = leafMap[parts.slice(-2).join('/')];
  if (!leaf) return null;
  const path = parts.slice(0, -2);
  if (path.length === 1) return `${path[0]}.${leaf}`; // Conv3d_1a_7x7
  if (path[0] === 'Logits' && path[1] === 'Conv3d_0c_1x1') return `Conv3d_6a_1x1.${leaf}`;
  const mixed = /^Mixed_(\d[a-z])$/.exec(path[0] ?? '');
  const branch = /^Branch_(\d)$/.exec(path[1] ?? '');
  const conv = /^Conv3d_0([ab])_(\dx\d)$/.exec(path[2] ?? '');
  if (!mixed || !branch || !conv || path.length !== 3) return null;
  // Keras' letter follows the branch's order: branch 0's conv is 'a', branch 3's (after the pool) 'b', and in
  // branches 1 and 2 the 1x1 comes first ('a') and the 3x3 second ('b'). The letter in the checkpoint is not
  // used: DeepMind's Mixed_5b names its branch-2 3x3 'Conv3d_0a_3x3'.
  const sub = branch[1] === '0' ? 'a' : branch[1] === '3' ? 'b' : conv[2] === '1x1' ? 'a' : 'b';
  return `Mixed_${mixed[1]}.Conv3d_${mixed[1]}_${branch[1]}${sub}_${conv[2]}.${leaf}`;
}

function isCheckpointKernel(name: string): boolean {
  return name.endsWith('conv_3d/w');
}

/** A model tensor's shape as the checkpoint holds it: kernels (kt, kh, kw, in, out), vectors as they are. */
export function checkpointShape(name: string, ours: readonly number[]): number[] {
  return isCheckpointKernel(name) ? tfKernelShape(ours) : [...ours];
}

/** Vectors may be stored with leading 1s (the Kinetics-600 checkpoint's batch norm: [1, 1, 1, 1, C]). */
export function checkpointShapeFits(entry: Pick<CheckpointEntry, 'name' | 'shape'>, ours: readonly number[]): boolean {
  const want = checkpointShape(entry.name, ours);
  if (isCheckpointKernel(entry.name)) return entry.shape.join() === want.join();
  const squeezed = entry.shape.filter((d, i) => d !== 1 || i === entry.shape.length - 1);
  return squeezed.join() === want.join();
}

/** TensorFlow stores CRC-32C masked: rotate right by 15, add a constant. */
function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function dataFile(prefix: string, shard: number, shards: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}.data-${pad(shard)}-of-${pad(shards)}`;
}

/**
 * Loads a deepmind/kinetics-i3d checkpoint (`prefix` as in `.../model.ckpt`) into an I3D. Checks names and
 * shapes first, then every tensor's size and CRC-32C; nothing is copied unless all of them pass.
 */
export function loadTfCheckpoint(model: Module, prefix: string): void {
  const index = readCheckpointIndex(`${prefix}.index`);
  const state = model.stateTensors();
  const problems: string[] = [];
  const plan: { entry: CheckpointEntry; ours: string }[] = [];
  const seen = new Set<string>();
  for (const entry of index.entries.values()) {
    const ours = checkpointToOurs(entry.name);
    if (ours === null) continue;
    seen.add(ours);
    const t = state.get(ours);
    if (!t) problems.push(`'${entry.name}' (${ours}) has no place in this model`);
    else if (entry.slices)
      problems.push(`'${entry.name}' is a partitioned variable (${entry.slices} slices), which is not supported: save it unpartitioned`);
    else if (entry.shard >= index.shards)
      problems.push(`'${entry.name}' is in shard ${entry.shard}, but the checkpoint has ${index.shards} shard(s)`);
    else {
      if (!checkpointShapeFits(entry, t.shape))
        problems.push(
          `'${entry.name}' has shape [${entry.shape.join(', ')}], expected [${checkpointShape(entry.name, t.shape).join(', ')}]`,
        );
      else if (entry.dtype !== 'float32') problems.push(`'${entry.name}' is ${entry.dtype}, expected float32`);
      else if (entry.size !== 4 * t.numel) problems.push(`'${entry.name}' has ${entry.size} bytes, expected ${4 * t.numel} (float32)`);
      else plan.push({ entry, ours });
    }
  }
  for (const name of state.keys()) if (!seen.has(name)) problems.push(`missing a tensor for ${name}`);
  throwIfMismatched(prefix, problems);
  // Read and verify everything before touching the model.
  const data = new Map<string, Float32Array>();
  for (let shard = 0; shard < index.shards; shard++) {
    const path = dataFile(prefix, shard, index.shards);
    const mine = plan.filter((p) => p.entry.shard === shard);
    if (!mine.length) continue;
    if (!existsSync(path))
      throw new WeightsError(`${path}: the checkpoint's data file is missing (the index ${prefix}.index needs it beside it)`);
    const need = Math.max(...mine.map((p) => p.entry.offset + p.entry.size));
    const have = statSync(path).size;
    if (have < need) throw new WeightsError(`${path}: ${have} bytes, the index needs at least ${need} (truncated or another checkpoint)`);
    const fd = openSync(path, 'r');
    try {
      for (const { entry, ours } of mine) {
        const bytes = new Uint8Array(entry.size);
        readSync(fd, bytes, 0, entry.size, entry.offset);
        const crc = maskCrc(crc32c.buf(bytes) >>> 0);
        if (crc !== entry.crc32c) throw new WeightsError(`${path}: '${entry.name}' fails its CRC-32C check (corrupt data file)`);
        data.set(ours, new Float32Array(bytes.buffer));
      }
    } finally {
      closeSync(fd);
    }
  }
  noGrad(() => {
    for (const { entry, ours } of plan) {
      scope(() => {
        const t = state.get(ours)!;
        const src = isCheckpointKernel(entry.name)
          ? tensor(data.get(ours)!, entry.shape).permute(TF_KERNEL_TO_OURS)
          : tensor(data.get(ours)!, [...t.shape]);
        t.copyFrom(src);
      });
    }
  });
}
