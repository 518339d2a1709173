// .npy files: ours read by NumPy and NumPy's read by ours (float32, float64, int64, bool, header v1 and v2).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NpyError, readNpy, readNpyFloat32, writeNpy } from '../src/io/npy.js';

const PY = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'i3d-npy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function py(code: string): string {
  const r = spawnSync(PY, ['-c', code], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('writeNpy writes float32 C-order arrays NumPy reads back exactly, and leaves no temporary file', () => {
  const shape = [1, 3, 4, 5, 3];
  const data = Float32Array.from({ length: 180 }, (_, i) => Math.sin(i) * 1e3);
  const f = join(dir, 'clip.npy');
  writeNpy(f, data, shape);
  assert.deepEqual(readdirSync(dir), ['clip.npy']);
  const out = py(
    `import numpy as np; a = np.load(${JSON.stringify(f)}); ` +
      `x = np.sin(np.arange(180)).astype(np.float64) * 1e3; ` +
      `print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], bool((a.ravel() == x.astype(np.float32)).all()))`,
  );
  assert.equal(out.trim(), 'float32 (1, 3, 4, 5, 3) True True');
  const back = readNpy(f);
  assert.deepEqual(back.shape, shape);
  assert.equal(back.descr, '<f4');
  assert.deepEqual(Array.from(back.data as Float32Array), Array.from(data));
});

test('readNpy reads what NumPy writes: float64, int64, bool, 0-d and a v2 header', () => {
  const d = JSON.stringify(dir);
  py(
    `import numpy as np, os; d = ${d}; ` +
      `np.save(os.path.join(d, 'f8.npy'), np.arange(6, dtype=np.float64).reshape(2, 3) / 4); ` +
      `np.save(os.path.join(d, 'i8.npy'), np.array([-3, 0, 2**40])); ` +
      `np.save(os.path.join(d, 'b.npy'), np.array([True, False])); ` +
      `np.save(os.path.join(d, 's.npy'), np.float32(2.5)); ` +
      `from numpy.lib import format as fm; f = open(os.path.join(d, 'v2.npy'), 'wb'); ` +
      `a = np.ones((2, 2), np.float32); fm.write_array(f, a, version=(2, 0)); f.close()`,
  );
  const f8 = readNpy(join(dir, 'f8.npy'));
  assert.deepEqual(f8.shape, [2, 3]);
  assert.deepEqual(Array.from(f8.data as Float64Array), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'i8.npy')).data as BigInt64Array), [-3n, 0n, 2n ** 40n]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'b.npy')).data as Uint8Array), [1, 0]);
  const s = readNpy(join(dir, 's.npy'));
  assert.deepEqual(s.shape, []);
  assert.deepEqual(Array.from(s.data as Float32Array), [2.5]);
  const v2 = readNpyFloat32(join(dir, 'v2.npy'));
  assert.deepEqual(v2.shape, [2, 2]);
  assert.deepEqual(Array.from(v2.data), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(readNpyFloat32(join(dir, 'i8.npy')).data), [-3, 0, 2 ** 40]);
});

test('bad .npy files and bad arguments give errors naming the file', () => {
  const junk = join(dir, 'junk.npy');
  writeFileSync(junk, 'hello world');
  assert.throws(
    () => readNpy(junk),
    (e: unknown) => e instanceof NpyError && /junk\.npy: not a \.npy file/.test(e.message),
  );
  const cut = join(dir, 'cut.npy');
  writeNpy(cut, new Float32Array(100), [10, 10]);
  writeFileSync(cut, readFileSync(cut).subarray(0, 200));
  assert.throws(() => readNpy(cut), /cut\.npy: truncated/);
  assert.throws(() => readNpy(join(dir, 'missing.npy')), /missing\.npy: cannot read \(ENOENT\)/);
  const bad = join(dir, 'bad.npy');
  assert.throws(() => writeNpy(bad, new Float32Array(5), [2, 3]), /bad\.npy: shape \[2, 3\] holds 6 values, the data has 5/);
  assert.equal(existsSync(bad), false);
});
