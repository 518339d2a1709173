// The safetensors format: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian bytes. Written atomically (core/storage.ts), so a crash never leaves half a file.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/storage.js';
import { noGrad, scope } from '../tensor/context.js';
import type { Tensor } from '../tensor/tensor.js';
import { WeightsError } from './errors.js';

export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

const HEADER_LIMIT = 100 * 2 ** 20;

/** Writes float32 tensors (and string metadata) as one safetensors file, atomically (core/storage.ts). */
export function writeSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  const arrays = new Map<string, StoredTensor>();
  noGrad(() =>
    scope(() => {
      for (const [name, t] of tensors) {
        const data = t.dtype === 'float32' ? (t.data() as Float32Array) : (t.to('float32').data() as Float32Array);
        arrays.set(name, { shape: [...t.shape], data });
      }
    }),
  );
  writeSafetensorsData(path, arrays, metadata);
}

/** Writes float32 arrays (and string metadata) as one safetensors file, atomically; no tensors needed. */
export function writeSafetensorsData(
  path: string,
  tensors: ReadonlyMap<string, StoredTensor>,
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of [...tensors].sort(([a], [b]) => a.localeCompare(b))) {
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || t.data.length !== count)
      throw new WeightsError(`${path}: tensor '${name}' has ${t.data.length} values, its shape [${t.shape.join(', ')}] needs ${count}`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileAtomic(path, [head, json, ...chunks]);
}

/** Reads a safetensors file of float32 tensors; every offset and shape is checked. */
export function readSafetensors(path: string): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  if (!existsSync(path)) throw new WeightsError(`${path}: no such safetensors file`);
  const file = readFileSync(path);
  const bad = (why: string): never => {
    throw new WeightsError(`${path}: not a valid safetensors file (${why})`);
  };
  if (file.length < 8) bad('shorter than its 8-byte header length');
  const n = Number(file.readBigUInt64LE(0));
  if (n > HEADER_LIMIT || 8 + n > file.length) bad(`header length ${n} does not fit in ${file.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    return bad(`header is not JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = file.length - dataStart;
  const tensors = new Map<string, StoredTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof info !== 'object' || info === null) bad(`'${name}' is not an object`);
    const { dtype, shape, data_offsets: off } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (dtype !== 'F32') bad(`'${name}' has dtype ${String(dtype)}; only F32 is supported`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`'${name}' has no valid shape`);
    if (!Array.isArray(off) || off.length !== 2 || !(off[0] <= off[1]) || off[1] > dataLength)
      bad(`'${name}' has data offsets outside the file`);
    const [b, e] = off as [number, number];
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    if (e - b !== 4 * count) bad(`'${name}' holds ${e - b} bytes, its shape needs ${4 * count}`);
    const bytes = file.subarray(dataStart + b, dataStart + e);
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes);
    tensors.set(name, { shape: shape as number[], data });
  }
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  return { tensors, metadata: meta };
}
