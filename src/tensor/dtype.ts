// Element types and the typed arrays that carry them across the JS/native boundary.

export const DTYPES = ['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** The typed array that `Tensor.data()` returns for each dtype (bfloat16 and float16 widen to float32). */
export interface DataTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  bfloat16: Float32Array;
  float16: Float32Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TypedArray = DataTypeMap[DType];

export function isDType(v: unknown): v is DType {
  return typeof v === 'string' && (DTYPES as readonly string[]).includes(v);
}

/** The view over bytes read back from native code (bfloat16/float16 arrive as float32). */
export function viewOf(dtype: DType, buf: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'float32':
    case 'bfloat16':
    case 'float16':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf);
  }
}

/** The dtype a typed array holds, for tensors made from one. */
export function dtypeOfArray(a: ArrayBufferView): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'uint8';
  return null;
}
