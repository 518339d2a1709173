// Loads the native addon and describes what it exports. It is the layer under tensor: tensor wraps it, and a few
// higher layers call their own native entry points directly (optim: the fused SGD step; video: TV-L1 flow).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** A reference to a libtorch tensor in the addon's table (a number: slot and generation). */
export type Handle = number & { readonly __brand: 'i3d.Handle' };

/** What the native `facts()` call reports. */
/** tvl1Flow's arguments: two gray frames, their size, params in NATIVE_TVL1_ORDER, then impl and isa. */
export type Tvl1NativeArgs = [
  prev: Uint8Array | Float32Array,
  next: Uint8Array | Float32Array,
  width: number,
  height: number,
  params: number[],
  impl?: string,
  isa?: string,
];

export interface NativeFacts {
  torchVersion: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  mkldnn: boolean;
  openmp: boolean;
  hardwareConcurrency: number;
  config: string;
  parallelInfo: string;
}

/** A native op as exported: a sync function `name` and an async twin `nameAsync`. */
export type NativeFn = (...args: unknown[]) => unknown;

export interface NativeBinding {
  dispose(h: Handle): void;
  isDisposed(h: Handle): boolean;
  liveCount(): number;
  externalMemory(): number;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: string, device?: string): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  dtype(h: Handle): string;
  device(h: Handle): string;
  isContiguous(h: Handle, format?: string): boolean;
  nbytes(h: Handle): number;
  grad(h: Handle): Handle | null;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, value: boolean): void;
  zeroGrad(hs: Handle[]): void;
  isGradEnabled(): boolean;
  setGradEnabled(value: boolean): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  facts(): NativeFacts;
  /**
   * TV-L1 flow of two gray frames (both Uint8Array or both Float32Array in [0, 1]); params in NATIVE_TVL1_ORDER;
   * impl 'opencv' (default) or 'ours' (native/tvl1.cc), isa for 'ours' (auto: $I3D_FLOW_ISA, else the CPU's best).
   */
  tvl1Flow(...args: Tvl1NativeArgs): Float32Array;
  tvl1FlowAsync(...args: Tvl1NativeArgs): Promise<Float32Array>;
  setFlowThreads(n: number): void;
  flowFacts(): { opencvVersion: string; threads: number; parallelFramework: string; oursBestIsa: string };
  /** The ISA our TV-L1 uses for this request ('auto' reads $I3D_FLOW_ISA), capped by the CPU. */
  flowIsa(request: string): string;
  /** Every op: `binding[name](...)` and `binding[name + 'Async'](...)`. */
  [op: string]: unknown;
}

const here = dirname(fileURLToPath(import.meta.url));

function findAddon(): string {
  // dist/src/native -> package root; src/native (run from sources) -> package root
  for (const up of ['../../..', '../..']) {
    const p = join(here, up, 'build/Release/i3d_native.node');
    if (existsSync(p)) return p;
  }
  // Plain Errors here and below (exit 1): an incomplete install, not a bad input.
  throw new Error(
    'The i3d native addon is not built (build/Release/i3d_native.node is missing). ' +
      'Run `npm run build:native` (it needs libtorch: `sudo apt-get install libtorch-dev` on Debian/Ubuntu).',
  );
}

function load(): NativeBinding {
  const path = process.env.I3D_NATIVE_ADDON ?? findAddon();
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeBinding;
  } catch (e) {
    throw new Error(`Could not load the i3d native addon ${path}: ${(e as Error).message}`);
  }
}

/** Threads per op by default: I3D_NUM_THREADS, else OMP_NUM_THREADS, else every core Node sees. */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  for (const k of ['I3D_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const n = Number(env[k]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return availableParallelism();
}

let loaded: NativeBinding | null = null;

/** The addon, loaded on first use: `i3d --help`, `--version` and usage errors answer without loading libtorch. */
function binding(): NativeBinding {
  if (!loaded) {
    loaded = load();
    loaded.setNumThreads(defaultThreads());
  }
  return loaded;
}

/** The addon's functions; the first property read loads it (and its libtorch), which takes about a second. */
export const native: NativeBinding = new Proxy({} as NativeBinding, {
  get: (_target, key) => Reflect.get(binding(), key),
  has: (_target, key) => Reflect.has(binding(), key),
});
