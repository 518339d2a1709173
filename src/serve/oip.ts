// The Open Inference Protocol v2 (KServe / Triton REST) request and response bodies: JSON tensors and the binary
// tensor data extension (a JSON header of `Inference-Header-Content-Length` bytes, then the tensors' bytes in
// input order). Every shape is checked against the data it comes with before anything is allocated from it.
import { ServeError } from './errors.js';

export type Datatype = 'FP32' | 'BYTES';

export interface InferInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** FP32: the values in C order; BYTES: the elements. */
  data: Float32Array | Buffer[];
}

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: InferInput[];
  /** The outputs asked for, or null for the defaults. */
  outputs: RequestedOutput[] | null;
  /** `parameters.binary_data_output`: every output as binary unless it says otherwise. */
  binaryOutput: boolean;
}

export interface OutputTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  binary: boolean;
}

const MAX_DIMS = 8;
const MAX_ELEMENTS = 2 ** 31 - 1;

const bad = (msg: string): never => {
  throw new ServeError('BAD_TENSOR', msg);
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(x: unknown): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The number of elements of a shape, refusing negative, fractional, too many dims or absurd totals. */
export function elementCount(shape: unknown, what: string): number {
  if (!Array.isArray(shape) || shape.length > MAX_DIMS)
    return bad(`${what}: 'shape' must be an array of at most ${MAX_DIMS} non-negative integers`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      return bad(`${what}: 'shape' [${shape.map(String).join(', ')}] holds ${JSON.stringify(d)}, not a non-negative integer`);
    n *= d;
    if (n > MAX_ELEMENTS) return bad(`${what}: shape [${shape.join(', ')}] has more than ${MAX_ELEMENTS} elements`);
  }
  return n;
}

/** Counts the leaves of (possibly nested) JSON data without allocating; -1 when a leaf is not of `leaf` type. */
function countLeaves(data: Json, leaf: 'number' | 'string'): number {
  let n = 0;
  const stack: Json[] = [data];
  while (stack.length) {
    const x = stack.pop()!;
    if (Array.isArray(x)) for (let i = x.length - 1; i >= 0; i--) stack.push(x[i]!);
    else if (typeof x === leaf) n++;
    else return -1;
  }
  return n;
}

function fillLeaves<T>(data: Json, put: (x: T, i: number) => void): void {
  let i = 0;
  const walk = (x: Json) => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else put(x as T, i++);
  };
  if (Array.isArray(data)) {
    // Depth is bounded by what JSON.parse accepted; flat data (the common case) needs no recursion.
    if (data.every((x) => !Array.isArray(x))) data.forEach((x, j) => put(x as T, j));
    else walk(data);
  } else walk(data);
}

function splitBytes(buf: Buffer, count: number, what: string): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) bad(`${what}: BYTES data ends inside an element's 4-byte length`);
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.length) bad(`${what}: a BYTES element of ${len} bytes runs past the data`);
    out.push(buf.subarray(off, off + len));
    off += len;
    if (out.length > count) break;
  }
  if (out.length !== count) bad(`${what}: shape says ${count} BYTES element(s), the data holds ${out.length}`);
  return out;
}

/** Parses an infer request body; `headerLength` is the Inference-Header-Content-Length (binary extension). */
export function parseInferRequest(body: Buffer, headerLength: number | undefined): InferRequest {
  if (headerLength !== undefined && (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length))
    throw new ServeError('BAD_REQUEST', `Inference-Header-Content-Length ${headerLength} is not within the body's ${body.length} bytes`);
  const jsonEnd = headerLength ?? body.length;
  let j: unknown;
  try {
    j = JSON.parse(body.subarray(0, jsonEnd).toString('utf8'));
  } catch (e) {
    throw new ServeError('BAD_JSON', `the request's JSON does not parse: ${(e as Error).message}`);
  }
  if (!isObject(j)) throw new ServeError('BAD_JSON', 'the request must be a JSON object with "inputs"');
  const id = j.id;
  if (id !== undefined && typeof id !== 'string') throw new ServeError('BAD_JSON', `'id' must be a string`);
  if (!Array.isArray(j.inputs) || j.inputs.length === 0) throw new ServeError('BAD_JSON', `'inputs' must be a non-empty array`);
  let offset = jsonEnd;
  const inputs: InferInput[] = [];
  for (const [k, x] of j.inputs.entries()) {
    if (!isObject(x)) return bad(`inputs[${k}] must be an object`);
    const name = x.name;
    if (typeof name !== 'string') return bad(`inputs[${k}]: 'name' must be a string`);
    const what = `input '${name}'`;
    const datatype = x.datatype;
    if (datatype !== 'FP32' && datatype !== 'BYTES')
      return bad(`${what}: datatype ${JSON.stringify(datatype)}; this server takes FP32 or BYTES`);
    const count = elementCount(x.shape, what);
    const shape = x.shape as number[];
    const params = x.parameters;
    const binSize = isObject(params) ? params.binary_data_size : undefined;
    if (binSize !== undefined) {
      if (typeof binSize !== 'number' || !Number.isInteger(binSize) || binSize < 0)
        return bad(`${what}: parameters.binary_data_size must be a non-negative integer`);
      if (headerLength === undefined) return bad(`${what}: binary_data_size without an Inference-Header-Content-Length header`);
      if (offset + binSize > body.length)
        return bad(`${what}: binary_data_size ${binSize} runs past the body (${body.length - offset} bytes left)`);
      const bytes = body.subarray(offset, offset + binSize);
      offset += binSize;
      if (datatype === 'FP32') {
        if (binSize !== count * 4) return bad(`${what}: shape [${shape.join(', ')}] needs ${count * 4} bytes of FP32, got ${binSize}`);
        const data = new Float32Array(count);
        new Uint8Array(data.buffer).set(bytes); // little-endian, as the extension says (and this machine is)
        inputs.push({ name, datatype, shape, data });
      } else inputs.push({ name, datatype, shape, data: splitBytes(bytes, count, what) });
      continue;
    }
    if (x.data === undefined) return bad(`${what}: no 'data' and no parameters.binary_data_size`);
    const n = countLeaves(x.data, datatype === 'FP32' ? 'number' : 'string');
    if (n < 0) return bad(`${what}: 'data' must hold only ${datatype === 'FP32' ? 'numbers' : 'strings'}`);
    if (n !== count) return bad(`${what}: shape [${shape.join(', ')}] has ${count} elements, 'data' holds ${n}`);
    if (datatype === 'FP32') {
      const data = new Float32Array(count);
      fillLeaves<number>(x.data, (v, i) => (data[i] = v));
      inputs.push({ name, datatype, shape, data });
    } else {
      // BYTES in JSON: base64 strings (a video does not survive as UTF-8 text).
      const data: Buffer[] = [];
      fillLeaves<string>(x.data, (v) => data.push(Buffer.from(v, 'base64')));
      inputs.push({ name, datatype, shape, data });
    }
  }
  if (offset !== body.length) return bad(`the body has ${body.length - offset} bytes after the JSON header and the inputs' binary data`);
  const binaryOutput = isObject(j.parameters) && j.parameters.binary_data_output === true;
  let outputs: RequestedOutput[] | null = null;
  if (j.outputs !== undefined) {
    if (!Array.isArray(j.outputs)) throw new ServeError('BAD_JSON', `'outputs' must be an array`);
    outputs = j.outputs.map((o, k) => {
      if (!isObject(o) || typeof o.name !== 'string') return bad(`outputs[${k}] must be an object with a 'name'`);
      const b = isObject(o.parameters) ? o.parameters.binary_data : undefined;
      return { name: o.name, binary: typeof b === 'boolean' ? b : binaryOutput };
    });
  }
  return { ...(id !== undefined ? { id } : {}), inputs, outputs, binaryOutput };
}

/** An infer response: JSON, or the binary extension's header + bytes when any output is binary. */
export function encodeInferResponse(
  model: string,
  id: string | undefined,
  outputs: readonly OutputTensor[],
): { body: Buffer | string; headers: Record<string, string> } {
  const binary = outputs.filter((o) => o.binary);
  const json = {
    model_name: model,
    model_version: '1',
    ...(id !== undefined ? { id } : {}),
    outputs: outputs.map((o) => ({
      name: o.name,
      datatype: 'FP32',
      shape: o.shape,
      ...(o.binary ? { parameters: { binary_data_size: o.data.byteLength } } : { data: Array.from(o.data) }),
    })),
  };
  const text = JSON.stringify(json);
  if (!binary.length) return { body: text, headers: { 'content-type': 'application/json; charset=utf-8' } };
  const head = Buffer.from(text, 'utf8');
  const parts = [head, ...binary.map((o) => Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength))];
  return {
    body: Buffer.concat(parts),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
  };
}
