// Shared test helpers: fixture loading, closeness checks, finite-difference gradient checks.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noGrad, scope, tensor, type Tensor } from '../src/index.js';

/** The repository root (tests run from dist/test). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = join(ROOT, '../shared');
/** The built `i3d` command. */
export const BIN = join(ROOT, 'dist/src/cli/main.js');

/** A CPU-sized I3D-LSTM for the CLI training tests: random backbone at 1/16 width, 2 segments x 8 frames of 32x32. */
export const TINY_MODEL = [
  '--backbone',
  'random',
  '--width',
  '0.0625',
  '--segments',
  '2',
  '--frames',
  '8',
  '--size',
  '32',
  '--resize',
  '40',
];
/** Its recipe: LSTM 16,8, batch 4, three learning rates, one loader worker, no flips, decoded videos kept in memory. */
export const TINY_RECIPE = [
  ...['--lstm', '16,8', '--batch', '4', '--lr', '0.05,0.02,0.01', '--lr-epochs', '1,2', '--workers', '1', '--no-flip'],
  ...['--frame-cache', '64'],
];

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `i3d` command without blocking the event loop (a test may serve HTTP meanwhile); `env` adds to process.env. */
export function runCli(args: readonly string[], o: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Runs independent `i3d` invocations `parallel` at a time (default 2: most of a short run is one thread loading
 * modules, libtorch and ffmpeg), with the same options; the results in the order of `runs`.
 */
export async function runCliAll(
  runs: readonly (readonly string[])[],
  o: { cwd?: string; env?: Record<string, string>; parallel?: number } = {},
): Promise<CliResult[]> {
  const results = new Array<CliResult>(runs.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < runs.length; i = next++) results[i] = await runCli(runs[i]!, o);
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel ?? 2, runs.length) }, lane));
  return results;
}

export interface FixtureTensor {
  shape: number[];
  data: number[];
  dtype?: 'int64';
}

export function loadJson<T>(rel: string): T {
  return JSON.parse(readFileSync(join(ROOT, rel), 'utf8')) as T;
}

/** A fixture tensor as float64 (or int64). */
export function fx(t: FixtureTensor): Tensor {
  if (t.dtype === 'int64')
    return tensor(
      BigInt64Array.from(t.data, (x) => BigInt(x)),
      t.shape,
    );
  return tensor(Float64Array.from(t.data), t.shape);
}

/** Asserts same shape and max |a - b| <= atol + rtol * |b|. */
export function assertClose(actual: Tensor, expected: FixtureTensor | Tensor, atol = 1e-10, rtol = 1e-7, what = 'tensor'): void {
  const eShape = 'shape' in expected && Array.isArray(expected.shape) ? expected.shape : (expected as Tensor).shape;
  assert.deepEqual([...actual.shape], [...eShape], `${what}: shape`);
  const a = Array.from(actual.data() as Float64Array, Number);
  const e = Array.isArray((expected as FixtureTensor).data)
    ? (expected as FixtureTensor).data
    : Array.from((expected as Tensor).data() as Float64Array, Number);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const ai = a[i] as number;
    const ei = e[i] as number;
    // A NaN where the reference has a number (or the other way round) is the worst error of all; NaN matches NaN.
    const diff = (Number.isNaN(ai) && Number.isNaN(ei)) || ai === ei ? 0 : Math.abs(ai - ei) - rtol * Math.abs(ei);
    const err = Number.isNaN(diff) ? Infinity : diff;
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= atol, `${what}: element ${at} is ${a[at]}, expected ${e[at]}`);
}

/**
 * Compares the gradient autograd computes for sum(f(inputs) * r) (r fixed random weights) with central finite
 * differences, on float64 inputs. Checks up to `samples` elements of every input.
 */
export function gradcheck(f: (xs: Tensor[]) => Tensor, inputs: Tensor[], { eps = 1e-6, tol = 1e-6, samples = 24 } = {}): void {
  scope(() => {
    const leaves = inputs.map((x) => {
      const l = x.detach();
      l.requiresGrad = true;
      return l;
    });
    const out = f(leaves);
    const r = tensor(
      Float64Array.from({ length: out.numel }, (_, i) => Math.sin(i * 12.9898) * 0.5 + 0.7),
      [...out.shape],
    );
    out.mul(r).sum().backward();
    const objective = (xs: Tensor[]) => scope(() => noGrad(() => f(xs).mul(r).sum().item()));
    leaves.forEach((leaf, k) => {
      const analytic = leaf.grad?.data() as Float64Array;
      assert.ok(analytic, `input ${k} got no gradient`);
      const base = inputs[k]!.data() as Float64Array;
      const step = Math.max(1, Math.floor(base.length / samples));
      for (let i = 0; i < base.length; i += step) {
        const probe = (delta: number) => {
          const d = Float64Array.from(base);
          d[i]! += delta;
          const xs = inputs.map((x, j) => (j === k ? tensor(d, [...x.shape]) : x));
          return objective(xs);
        };
        const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
        const a = analytic[i] as number;
        assert.ok(
          Math.abs(a - numeric) <= tol * Math.max(1, Math.abs(numeric)),
          `input ${k} element ${i}: autograd ${a}, finite differences ${numeric}`,
        );
      }
    });
  });
}

/** A case of the I3D parity fixtures (test/fixtures/make_i3d.py). */
export interface I3DCase {
  name: string;
  stream: 'rgb' | 'flow';
  includeTop: boolean;
  /** Keras .h5 file, relative to the fixture folder. */
  weights: string;
  /** Raw float32 clip [B, T, H, W, C], relative to the fixture folder. */
  clip: string;
  shape: number[];
  features: number[];
  logits: number[] | null;
  /** Width multiplier and classes of the model the weights are for (the small variants: 1/16 and 5). */
  width?: number;
  classes?: number;
  /** How the file was written: 'save_weights' (Keras 2), 'model.save', 'keras1' (Keras 1.2) or 'narrow'. */
  layout?: string;
  /** The file's `layer_names`, in Keras' order (the full-size save_weights and keras1 files). */
  layerNames?: string[];
}

/**
 * The I3D parity fixtures: full-size random weights in the HDF5 layouts Keras writes, clips and the reference outputs
 * of an independent PyTorch implementation (~350 MB), and small variants of the format. Made once per version of the script, in a temporary folder.
 */
export function i3dParityFixtures(): { dir: string; cases: I3DCase[] } {
  const script = join(ROOT, 'test/fixtures/make_i3d.py');
  const dir = join(tmpdir(), `i3d-parity-${createHash('sha1').update(readFileSync(script)).digest('hex').slice(0, 10)}`);
  if (!existsSync(join(dir, 'cases.json'))) {
    const r = spawnSync('/usr/bin/python3', [script, dir], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `fixture script failed (it needs python3-torch and python3-h5py): ${r.stderr}`);
  }
  return { dir, cases: (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: I3DCase[] }).cases };
}

/** Relative error ||a - e|| / ||e|| of two equally long vectors. */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'relErr: lengths');
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
