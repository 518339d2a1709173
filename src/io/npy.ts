// NumPy .npy files: write float32 (little-endian, C order), read float32/float64/integer arrays (format v1, v2, v3).
import { errorClass } from '../core/errors.js';
import { readFileSync } from 'node:fs';
import { writeAll, writeFileAtomicWith } from '../core/storage.js';

/** A .npy file that cannot be read or written (I3D_BAD_NPY). */
export class NpyError extends errorClass('NpyError', 'I3D_BAD_NPY') {}

export type NpyData =
  Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array;

export interface NpyArray {
  data: NpyData;
  shape: number[];
  /** The file's dtype descriptor, e.g. '<f4'. */
  descr: string;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

const DESCR: Record<string, { bytes: number; make: (b: ArrayBuffer, n: number) => NpyData }> = {
  f4: { bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  f8: { bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  i1: { bytes: 1, make: (b, n) => new Int8Array(b, 0, n) },
  u1: { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  b1: { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  i2: { bytes: 2, make: (b, n) => new Int16Array(b, 0, n) },
  u2: { bytes: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  i4: { bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  u4: { bytes: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  i8: { bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
};

/** The .npy header for a little-endian float32 C-order array (v1, or v2 when the header needs more than 64 KiB). */
export function npyHeader(shape: readonly number[], descr = '<f4'): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  for (const version of [1, 2]) {
    const lenBytes = version === 1 ? 2 : 4;
    const pre = MAGIC.length + 2 + lenBytes;
    const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
    const headerLen = total - pre;
    if (version === 1 && headerLen > 0xffff) continue;
    const b = Buffer.alloc(total, 0x20);
    MAGIC.copy(b, 0);
    b[6] = version;
    b[7] = 0;
    if (version === 1) b.writeUInt16LE(headerLen, 8);
    else b.writeUInt32LE(headerLen, 8);
    b.write(dict, pre, 'latin1');
    b[total - 1] = 0x0a;
    return b;
  }
  throw new NpyError('npy header too long');
}

/**
 * Writes a float32 array as .npy, atomically (core/storage.ts): a reader never sees a partial file and a failed
 * write (I3D_DISK) leaves the previous file, if any, as it was.
 */
export function writeNpy(path: string, data: Float32Array, shape: readonly number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new NpyError(`${path}: bad shape [${shape.join(', ')}]`);
  if (n !== data.length) throw new NpyError(`${path}: shape [${shape.join(', ')}] holds ${n} values, the data has ${data.length}`);
  writeFileAtomicWith(path, (fd) => {
    writeAll(fd, npyHeader(shape));
    // Float32Array is in the platform's byte order; every platform Node.js runs on is little-endian.
    writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
}

function parseHeader(path: string, b: Buffer): { descr: string; shape: number[]; fortran: boolean; offset: number } {
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new NpyError(`${path}: not a .npy file (no \\x93NUMPY magic)`);
  const major = b[6]!;
  if (major < 1 || major > 3) throw new NpyError(`${path}: unsupported .npy format version ${major}`);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const offset = 8 + lenBytes + headerLen;
  if (offset > b.length) throw new NpyError(`${path}: truncated .npy header`);
  const text = b.subarray(8 + lenBytes, offset).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new NpyError(`${path}: malformed .npy header: ${text.trim()}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new NpyError(`${path}: bad shape (${shapeText}) in the .npy header`);
  return { descr, shape, fortran: fortran === 'True', offset };
}

/** Reads a .npy array of float32, float64, (u)int8/16/32, int64 or bool, little-endian (or byte-order free), C order. */
export function readNpy(path: string): NpyArray {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    throw new NpyError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const { descr, shape, fortran, offset } = parseHeader(path, b);
  if (fortran) throw new NpyError(`${path}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const order = descr[0];
  const kind = descr.slice(1);
  const spec = DESCR[kind];
  if (!spec || !(order === '<' || order === '|' || (order === '=' && spec.bytes === 1)))
    throw new NpyError(`${path}: unsupported dtype '${descr}' (float32/64, (u)int8/16/32, int64 or bool, little-endian)`);
  const n = shape.reduce((a, c) => a * c, 1);
  const need = n * spec.bytes;
  if (b.length - offset < need)
    throw new NpyError(`${path}: truncated: shape [${shape.join(', ')}] needs ${need} bytes, ${b.length - offset} present`);
  // Copy into a fresh, aligned buffer.
  const ab = new ArrayBuffer(need);
  new Uint8Array(ab).set(b.subarray(offset, offset + need));
  return { data: spec.make(ab, n), shape, descr };
}

/** Reads a .npy array as float32 (converting float64 and integer arrays). */
export function readNpyFloat32(path: string): { data: Float32Array; shape: number[] } {
  const a = readNpy(path);
  if (a.data instanceof Float32Array) return { data: a.data, shape: a.shape };
  const out = new Float32Array(a.data.length);
  if (a.data instanceof BigInt64Array) for (let i = 0; i < out.length; i++) out[i] = Number(a.data[i]);
  else out.set(a.data);
  return { data: out, shape: a.shape };
}
