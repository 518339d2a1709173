// Lying weight and data files (issue 15, part 2): seeded mutations of one valid file per format, each read by the
// project's own reader in this process. Every outcome is classified: 'ok' (the reader accepted it), 'named' (an
// error with a known string `code` whose message names the file) or 'defect' (any other error). A crash or a hang
// is seen by the parent (campaign.ts / the quick test), which runs this file as a child with a time limit and
// measures its peak memory; the last "case" line on stdout says which mutation was running.
//
//   node dist/test/hostile/fuzz.js <format> <count> <seed> <work-dir>
//
// prints one JSON summary line at the end: {format, tried, ok, named, defects: [...], worstMs, worstRssMB, codes}.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mulberry32 } from '../../src/core/rng.js';
import { defaultParamsYaml, readParamsFile, validateParams } from '../../src/train/params.js';
import { readFeatures } from '../../src/features/extract.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import type { Module } from '../../src/nn/module.js';
import { tensor } from '../../src/tensor/tensor.js';
import { openKerasH5 } from '../../src/weights/keras-h5.js';
import { readModelConfig } from '../../src/weights/model-config.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { loadTfCheckpoint, readCheckpointIndex } from '../../src/weights/tf-checkpoint.js';
import { isNamedError } from './named.js';

type Rng = () => number;

export const FORMATS = ['safetensors', 'keras-h5', 'tf-index', 'tf-data', 'npy', 'config-json', 'params-yaml', 'feature-cache'] as const;
export type Format = (typeof FORMATS)[number];

export interface FuzzSummary {
  format: Format;
  tried: number;
  ok: number;
  named: number;
  /** Mutations whose error was not a named one (a defect of the reader): the first 20. */
  defects: { index: number; mutation: string; error: string }[];
  defectCount: number;
  worstMs: number;
  worstRssMB: number;
  /** Named errors by code. */
  codes: Record<string, number>;
}

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

// ---- generic byte mutations -------------------------------------------------------------------------------------

const LIE_NUMBERS = [-1, 0, 2 ** 31, 2 ** 32 + 4, 2 ** 53, 1e308, -(2 ** 53), 1.5, 2 ** 40, 65536 * 65536];

function byteMutation(b: Buffer, rng: Rng): [string, Buffer] {
  const out = Buffer.from(b);
  const k = int(rng, 8);
  switch (k) {
    case 0: {
      const flips = 1 + int(rng, 8);
      for (let i = 0; i < flips; i++) out[int(rng, out.length)]! ^= 1 << int(rng, 8);
      return [`bit flips x${flips}`, out];
    }
    case 1: {
      const at = int(rng, out.length);
      return [`truncated at ${at}/${out.length}`, out.subarray(0, at)];
    }
    case 2: {
      const at = int(rng, out.length);
      const n = 1 + int(rng, 16);
      for (let i = at; i < Math.min(out.length, at + n); i++) out[i] = int(rng, 256);
      return [`random bytes at ${at}`, out];
    }
    case 3:
      return ['garbage appended', Buffer.concat([out, randomBytes(rng, 1 + int(rng, 4096))])];
    case 4: {
      const at = int(rng, out.length);
      return [`garbage inserted at ${at}`, Buffer.concat([out.subarray(0, at), randomBytes(rng, 1 + int(rng, 64)), out.subarray(at)])];
    }
    case 5: {
      const at = int(rng, out.length);
      out.fill(pick(rng, [0, 0xff]), at, Math.min(out.length, at + 1 + int(rng, 256)));
      return [`filled at ${at}`, out];
    }
    case 6: {
      const at = int(rng, out.length);
      out[at] = pick(rng, [0x00, 0x7f, 0x80, 0xff]);
      return [`byte ${at} set`, out];
    }
    default: {
      const at = int(rng, out.length);
      const n = int(rng, Math.min(512, out.length - at));
      return [`slice duplicated at ${at}`, Buffer.concat([out.subarray(0, at + n), out.subarray(at, at + n), out.subarray(at + n)])];
    }
  }
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(rng, 256);
  return b;
}

/** A JSON text nested `depth` levels deep. */
const deepJson = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Lies in a JSON value: a random path's value replaced by a lying one, keys duplicated, deep nesting. */
function jsonLie(text: string, rng: Rng): [string, string] {
  const k = int(rng, 6);
  if (k === 0) return ['deep JSON', deepJson(pick(rng, [1000, 100_000, 1_000_000]))];
  if (k === 1) {
    // a duplicated key: the first property repeated with another value
    const m = /"([^"]+)"\s*:/.exec(text);
    if (m) return [`duplicate '${m[1]}'`, text.replace(/^\{/, `{"${m[1]}": ${JSON.stringify(pick(rng, LIE_NUMBERS))}, `)];
  }
  const v = JSON.parse(text) as unknown;
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === 'object') for (const [key, y] of Object.entries(x)) walk(y, [...p, key]);
  };
  walk(v, []);
  const path = pick(rng, paths.slice(1));
  if (!path) return ['top replaced', JSON.stringify(pick(rng, LIE_NUMBERS))];
  const lies: unknown[] = [
    ...LIE_NUMBERS,
    null,
    'x',
    '',
    true,
    [],
    {},
    [2 ** 31, 2 ** 31],
    [-1, 4],
    [0, 2 ** 53],
    'A'.repeat(10_000),
    Array.from({ length: 64 }, () => 65536),
  ];
  const lie = pick(rng, lies);
  let parent = v as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (k === 2 && !Array.isArray(parent)) delete parent[last];
  else parent[last] = lie;
  return [
    `${k === 2 ? 'deleted' : 'lie at'} ${path.join('.')}${k === 2 ? '' : ` = ${JSON.stringify(lie)?.slice(0, 40)}`}`,
    JSON.stringify(v),
  ];
}

// ---- formats ---------------------------------------------------------------------------------------------------

interface Target {
  /** The valid base file's bytes. */
  base: Buffer;
  /** Where the mutated bytes go. */
  path: string;
  /** A structured lie, for half the cases (the other half are byte mutations). */
  lie?: (rng: Rng) => [string, Buffer];
  /** Reads the file at `path` as the project does. */
  read: () => Promise<unknown> | unknown;
}

function safetensorsBytes(header: Record<string, unknown>, data: Buffer, lengthLie?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(lengthLie ?? BigInt(json.length));
  return Buffer.concat([head, json, data]);
}

const ST_HEADER = {
  __metadata__: { format: 'pt' },
  a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
  b: { dtype: 'F32', shape: [4], data_offsets: [24, 40] },
};

function safetensorsLie(rng: Rng, features = false): [string, Buffer] {
  const header = JSON.parse(JSON.stringify(features ? FEATURE_HEADER : ST_HEADER)) as Record<string, unknown>;
  const data = Buffer.alloc(features ? 4 * 32 : 40, 1);
  if (rng() < 0.25) {
    const lie = pick(rng, [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n, BigInt(JSON.stringify(header).length + 1), 7n]);
    return [`header length ${lie}`, safetensorsBytes(header, data, lie)];
  }
  const [what, text] = jsonLie(JSON.stringify(header), rng);
  const json = Buffer.from(text);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return [what, Buffer.concat([head, json, data])];
}

const FEATURE_HEADER = { __metadata__: { format: 'i3d-features' }, features: { dtype: 'F32', shape: [1, 4, 8], data_offsets: [0, 128] } };

function npyLie(rng: Rng, base: Buffer): [string, Buffer] {
  const k = int(rng, 4);
  const data = Buffer.alloc(4 * 24, 1);
  const dict = (descr: string, shape: string, fortran = 'False') =>
    `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  const header = (text: string, version = 1, lenLie?: number) => {
    const pad = 64 - ((10 + text.length + 1) % 64);
    const h = `${text}${' '.repeat(pad)}\n`;
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const len = Buffer.alloc(version === 1 ? 2 : 4);
    if (version === 1) len.writeUInt16LE(lenLie ?? h.length);
    else len.writeUInt32LE(lenLie ?? h.length);
    return Buffer.concat([pre, len, Buffer.from(h, 'latin1'), data]);
  };
  if (k === 0) {
    const shape = pick(rng, [
      '(2**40,)',
      '(-1, 3)',
      '(4294967296, 4294967296)',
      '(1e308,)',
      '(9007199254740993,)',
      '(65536, 65536, 65536)',
      '()',
      '(0,)',
      '(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33)',
    ]);
    return [`shape ${shape}`, header(dict('<f4', shape))];
  }
  if (k === 1) {
    const descr = pick(rng, ['<f8', '>f4', '<c16', '|O', '<U10', '<f2', 'f4', '<i8', '|b1', '<V4']);
    return [`dtype ${descr}`, header(dict(descr, '(2, 3, 4)'))];
  }
  if (k === 2) {
    const lie = pick(rng, [0, 1, 0xffff, 0xfffffff0, base.length]);
    const version = pick(rng, [1, 2, 3]);
    return [`header length ${lie} (v${version})`, header(dict('<f4', '(2, 3, 4)'), version, version === 1 ? lie & 0xffff : lie)];
  }
  return [
    `fortran/garbled`,
    header(pick(rng, [dict('<f4', '(2, 3, 4)', 'True'), "{'descr': '<f4'}", '{' + 'x'.repeat(60_000) + '}', deepJson(10_000)])),
  ];
}

// A minimal writer of TensorFlow's tensor bundle index (an SSTable: one data block, one index block, footer), for a
// checkpoint of two tensors whose entries can lie.
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

interface Entry {
  dtype: number;
  shape: number[];
  shard: number;
  offset: number;
  size: number;
  crc: number;
}

function entryProto(e: Entry): Buffer {
  const dims = Buffer.concat(
    e.shape.map((d) => Buffer.concat([varint((2 << 3) | 2), varint(varint(d).length + 1), varint(1 << 3), varint(d)])),
  );
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(e.crc >>> 0);
  return Buffer.concat([
    varint(1 << 3),
    varint(e.dtype),
    varint((2 << 3) | 2),
    varint(dims.length),
    dims,
    varint(3 << 3),
    varint(e.shard),
    varint(4 << 3),
    varint(e.offset),
    varint(5 << 3),
    varint(e.size),
    varint((6 << 3) | 5),
    crc,
  ]);
}

function block(records: [string, Buffer][]): Buffer {
  const body = Buffer.concat(
    records.map(([k, v]) => Buffer.concat([varint(0), varint(Buffer.byteLength(k)), varint(v.length), Buffer.from(k), v])),
  );
  const restarts = Buffer.alloc(8); // one restart at 0, then the count 1
  restarts.writeUInt32LE(1, 4);
  return Buffer.concat([body, restarts]);
}

function indexFile(entries: [string, Entry][], shards = 1): Buffer {
  const header = Buffer.concat([varint(1 << 3), varint(shards)]);
  const data = block([['', header], ...entries.map(([k, e]): [string, Buffer] => [k, entryProto(e)])]);
  const trailer = Buffer.alloc(5); // type 0 (uncompressed), crc (not checked)
  const dataHandle = Buffer.concat([varint(0), varint(data.length)]);
  const index = block([['\xff', dataHandle]]);
  const indexOffset = data.length + 5;
  const meta = block([]);
  const metaOffset = indexOffset + index.length + 5;
  const footer = Buffer.alloc(48);
  Buffer.concat([varint(metaOffset), varint(meta.length), varint(indexOffset), varint(index.length)]).copy(footer);
  footer.writeBigUInt64LE(0xdb4775248b80fb57n, 40);
  return Buffer.concat([data, trailer, index, trailer, meta, trailer, footer]);
}

/** TensorFlow's masked CRC-32C of `b`. */
async function maskedCrc(b: Buffer): Promise<number> {
  const { default: crc32c } = (await import('crc-32/crc32c.js')) as { default: { buf(b: Uint8Array): number } };
  const crc = crc32c.buf(b) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

const KERNEL = 'RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w';
const BETA = 'RGB/inception_i3d/Conv3d_1a_7x7/batch_norm/beta';

/** A stand-in for an I3D with just the two tensors of the checkpoint (loadTfCheckpoint asks a model for its state). */
function twoTensorModel(): Module {
  const state = new Map([
    ['Conv3d_1a_7x7.conv.weight', tensor(new Float32Array(4 * 3 * 8), [4, 3, 2, 2, 2])],
    ['Conv3d_1a_7x7.bn.beta', tensor(new Float32Array(4), [4])],
  ]);
  return { stateTensors: () => state } as unknown as Module;
}

async function checkpoint(): Promise<{ entries: [string, Entry][]; data: Buffer }> {
  const k = Buffer.alloc(4 * 96);
  for (let i = 0; i < 96; i++) k.writeFloatLE(i / 10, 4 * i);
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeFloatLE(i, 4 * i);
  return {
    entries: [
      [BETA, { dtype: 1, shape: [4], shard: 0, offset: 384, size: 16, crc: await maskedCrc(b) }],
      [KERNEL, { dtype: 1, shape: [2, 2, 2, 3, 4], shard: 0, offset: 0, size: 384, crc: await maskedCrc(k) }],
    ],
    data: Buffer.concat([k, b]),
  };
}

function entryLie(entries: [string, Entry][], rng: Rng): [string, Buffer] {
  const es = entries.map(([k, e]): [string, Entry] => [k, { ...e, shape: [...e.shape] }]);
  const [name, e] = pick(rng, es);
  const field = pick(rng, ['offset', 'size', 'shard', 'dtype', 'shape', 'dup', 'shards'] as const);
  const lie = pick(rng, [2 ** 31, 2 ** 32 + 4, 2 ** 53, 2 ** 40, 1, 0, 385, 0xffffffff]);
  if (field === 'shape') e.shape = pick(rng, [[2 ** 40], [65536, 65536, 65536], [0], [], Array.from({ length: 64 }, () => 2)]);
  else if (field === 'dup') es.push([name, { ...e }]);
  else if (field === 'shards') return [`num_shards ${lie}`, indexFile(es, lie)];
  else e[field] = lie;
  return [`${basename(name)} ${field} lie`, indexFile(es)];
}

async function target(format: Format, dir: string): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  switch (format) {
    case 'safetensors': {
      const path = join(dir, 'fuzz.safetensors');
      return {
        base: safetensorsBytes(ST_HEADER, Buffer.alloc(40, 1)),
        path,
        lie: (rng) => safetensorsLie(rng),
        read: () => readSafetensors(path),
      };
    }
    case 'feature-cache': {
      const path = join(dir, 'entry.safetensors');
      return {
        base: safetensorsBytes(FEATURE_HEADER, Buffer.alloc(128, 1)),
        path,
        lie: (rng) => safetensorsLie(rng, true),
        read: () => readFeatures(dir, { file: 'entry.safetensors' }),
      };
    }
    case 'npy': {
      const path = join(dir, 'clip.npy');
      writeNpy(path, new Float32Array(24).fill(0.5), [1, 2, 3, 4]);
      const { readFileSync } = await import('node:fs');
      const base = readFileSync(path);
      return { base, path, lie: (rng) => npyLie(rng, base), read: () => readNpy(path) };
    }
    case 'config-json': {
      const folder = join(dir, 'model');
      mkdirSync(folder, { recursive: true });
      const base = Buffer.from(
        JSON.stringify({
          format: 'i3d-model',
          version: 2,
          kind: 'i3d-lstm',
          stream: 'rgb',
          classes: 2,
          width: 1,
          lstm: [8, 4],
          dropout: 0.5,
          labels: ['a', 'b'],
          preprocessing: { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1] },
          clip: { segments: 2, frames: 8 },
        }),
      );
      return {
        base,
        path: join(folder, 'config.json'),
        lie: (rng) => {
          const [what, text] = jsonLie(base.toString(), rng);
          return [what, Buffer.from(text)];
        },
        read: () => readModelConfig(folder),
      };
    }
    case 'params-yaml': {
      const path = join(dir, 'params.yaml');
      const base = Buffer.from(defaultParamsYaml());
      const yamlLies = [
        [
          'alias bomb',
          'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
        ],
        ['deep flow', `epochs: ${deepJson(100_000)}\n`],
        ['deep block', Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')],
        ['duplicate keys', 'epochs: 3\nepochs: 4\n'],
        ['huge numbers', 'epochs: 1e308\nbatch: -1\nsegments: 9007199254740993\nlr: [.inf, .nan, -1]\n'],
        ['tags', 'epochs: !!binary aGVsbG8=\nsize: !!js/function "function(){}"\n'],
        ['a list', '- 1\n- 2\n'],
        ['a string', 'just text'],
        ['merge keys', 'base: &b {epochs: 2}\n<<: *b\n'],
        ['long string', `out: ${'x'.repeat(1_000_000)}\n`],
      ] as const;
      return {
        base,
        path,
        lie: (rng) => {
          const [what, text] = pick(rng, yamlLies);
          return [what, Buffer.from(text)];
        },
        read: () => validateParams(readParamsFile(path), path),
      };
    }
    case 'keras-h5': {
      const path = join(dir, 'weights.h5');
      const base = join(dir, 'base.h5');
      const py = [
        'import h5py, numpy as np, sys',
        "f = h5py.File(sys.argv[1], 'w')",
        "f.attrs['layer_names'] = [b'Conv3d_1a_7x7_conv', b'Conv3d_1a_7x7_bn']",
        "f.attrs['keras_version'] = b'2.2.4'",
        "g = f.create_group('Conv3d_1a_7x7_conv')",
        "g.attrs['weight_names'] = [b'Conv3d_1a_7x7_conv/kernel:0']",
        "g.create_dataset('Conv3d_1a_7x7_conv/kernel:0', data=np.arange(96, dtype=np.float32).reshape(2, 2, 2, 3, 4))",
        "g = f.create_group('Conv3d_1a_7x7_bn')",
        "g.attrs['weight_names'] = [b'Conv3d_1a_7x7_bn/beta:0']",
        "g.create_dataset('Conv3d_1a_7x7_bn/beta:0', data=np.arange(4, dtype=np.float32))",
        'f.close()',
      ].join('\n');
      const r = spawnSync('/usr/bin/python3', ['-c', py, base], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cannot make the HDF5 base file (python3-h5py needed): ${r.stderr}`);
      const { readFileSync } = await import('node:fs');
      return {
        base: readFileSync(base),
        path,
        read: async () => {
          const h = await openKerasH5(path);
          try {
            for (const w of h.weights.values()) w.read();
          } finally {
            h.close();
          }
        },
      };
    }
    case 'tf-index':
    case 'tf-data': {
      const prefix = join(dir, 'model.ckpt');
      const { entries, data } = await checkpoint();
      const index = indexFile(entries);
      const model = twoTensorModel();
      if (format === 'tf-index')
        return {
          base: index,
          path: `${prefix}.index`,
          lie: (rng) => entryLie(entries, rng),
          read: () => {
            writeFileSync(`${prefix}.data-00000-of-00001`, data);
            readCheckpointIndex(`${prefix}.index`);
            loadTfCheckpoint(model, prefix);
          },
        };
      return {
        base: data,
        path: `${prefix}.data-00000-of-00001`,
        read: () => {
          writeFileSync(`${prefix}.index`, index);
          loadTfCheckpoint(model, prefix);
        },
      };
    }
  }
}

export async function fuzz(format: Format, count: number, seed: number, dir: string, from = 0): Promise<FuzzSummary> {
  const t = await target(format, dir);
  const s: FuzzSummary = { format, tried: 0, ok: 0, named: 0, defects: [], defectCount: 0, worstMs: 0, worstRssMB: 0, codes: {} };
  // The unmutated file must read: otherwise every mutation's error would be the base's.
  writeFileSync(t.path, t.base);
  await t.read();
  for (let i = from; i < from + count; i++) {
    const rng = mulberry32(seed * 1_000_003 + i);
    const [mutation, bytes] = t.lie && rng() < 0.5 ? t.lie(rng) : byteMutation(t.base, rng);
    writeSync(1, `case ${i} ${mutation}\n`);
    writeFileSync(t.path, bytes);
    const t0 = performance.now();
    try {
      await t.read();
      s.ok++;
    } catch (e) {
      if (isNamedError(e, format.startsWith('tf-') ? 'model.ckpt' : basename(t.path))) {
        s.named++;
        const code = (e as { code: string }).code;
        s.codes[code] = (s.codes[code] ?? 0) + 1;
      } else {
        s.defectCount++;
        if (s.defects.length < 20)
          s.defects.push({ index: i, mutation, error: e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 300) : String(e) });
      }
    }
    s.tried++;
    s.worstMs = Math.max(s.worstMs, performance.now() - t0);
    s.worstRssMB = Math.max(s.worstRssMB, process.memoryUsage.rss() / 2 ** 20);
  }
  return s;
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const [format, count, seed, dir, from] = process.argv.slice(2);
  if (!FORMATS.includes(format as Format) || !dir) {
    console.error(`usage: fuzz.js <${FORMATS.join('|')}> <count> <seed> <dir>`);
    process.exit(2);
  }
  const s = await fuzz(format as Format, Number(count), Number(seed), dir, Number(from ?? 0));
  writeSync(1, `${JSON.stringify(s)}\n`);
}
