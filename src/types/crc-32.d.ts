// crc-32 ships types for its CRC-32 entry only; its CRC-32C entry has the same API.
declare module 'crc-32/crc32c.js' {
  /** CRC-32C (Castagnoli) of the bytes, as a signed 32-bit integer; `seed` continues a running checksum. */
  export function buf(data: Uint8Array, seed?: number): number;
}
