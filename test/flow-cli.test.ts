// `i3d flow`: a real video to the flow stream's .npy input, colour PNGs, the cache on a re-run, and bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readNpy } from '../src/index.js';
import { ROOT, SHARED } from './helpers.js';

const BIN = join(ROOT, 'dist/src/cli/main.js');

test('i3d flow writes [1, N, 224, 224, 2] in [-1, 1] with PNGs, a re-run reads the cache, --flow-impl opencv computes anew', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i3d-flow-cli-'));
  const env = { ...process.env, I3D_CACHE_DIR: join(dir, 'cache') };
  const video = join(SHARED, 'data/videos/asl_book.mkv');
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'flow', ...args], { encoding: 'utf8', env, timeout: 300_000 });
  try {
    const out = join(dir, 'flow.npy');
    let r = run(video, '--out', out, '--max-frames', '5', '--png', join(dir, 'png'));
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /from the cache/);
    const a = readNpy(out);
    assert.deepEqual(a.shape, [1, 4, 224, 224, 2], '5 frames give 4 flow fields');
    const values = a.data as Float32Array;
    assert.ok(values.every((v) => v >= -1 && v <= 1));
    assert.ok(
      values.some((v) => Math.abs(v) > 0.05),
      'the hands move',
    );
    assert.deepEqual(readdirSync(join(dir, 'png')), ['flow_00000.png', 'flow_00001.png', 'flow_00002.png', 'flow_00003.png']);
    r = run(video, '--out', join(dir, 'again.npy'), '--max-frames', '5');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\(from the cache\)/);
    assert.deepEqual(readNpy(join(dir, 'again.npy')).data, a.data);
    // The implementation is part of the cache key: OpenCV's flow is computed, not read back, and it is close to ours.
    r = run(video, '--out', join(dir, 'opencv.npy'), '--max-frames', '5', '--flow-impl', 'opencv');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /from the cache/);
    const cv = readNpy(join(dir, 'opencv.npy')).data as Float32Array;
    let diff = 0;
    for (let i = 0; i < values.length; i += 2) diff += Math.hypot(values[i]! - cv[i]!, values[i + 1]! - cv[i + 1]!) * 20;
    assert.ok(diff / (values.length / 2) <= 0.05, `mean endpoint error ours vs OpenCV ${diff / (values.length / 2)} px`);
    r = run(video, '--out', join(dir, 'x.npy'), '--flow-impl', 'fast');
    assert.equal(r.status, 2, 'a usage error');
    assert.match(r.stderr, /--flow-impl must be opencv or ours, got 'fast'/);
    r = run(join(dir, 'missing.mp4'), '--out', join(dir, 'x.npy'));
    assert.equal(r.status, 3, 'I3D_FILE_UNREADABLE: a bad input file');
    assert.match(r.stderr, /missing\.mp4/);
    assert.ok(!existsSync(join(dir, 'x.npy')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
