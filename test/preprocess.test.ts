// Preprocessing as the official I3D: resize/crop/scale against PyTorch (test/fixtures/make_video_transforms.py),
// the frame-sampling rules (windows, segments, the seed's spread, looping), flips, loadClip and `i3d preprocess`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { mulberry32 } from '../src/core/rng.js';
import { readNpy } from '../src/io/npy.js';
import { loadClip, type Clip, type ClipOptions } from '../src/video/clip.js';
import { probeVideo } from '../src/video/probe.js';
import { clearFrameCache, frameCacheStats } from '../src/video/frame-cache.js';
import { countFrames, decodeFrames } from '../src/video/decode.js';
import { ffmpegBin } from '../src/video/ffmpeg.js';
import { syntheticFrames } from '../src/data/synthetic-actions.js';
import { writeVideo } from '../src/video/encode.js';
import { sampleIndices, segmentIndices, windowIndices } from '../src/video/sample.js';
import { crop, cropOffset, flipHorizontal, resizeShorter, Resizer, shorterSide, toUnitRange } from '../src/video/transforms.js';
import { loadJson, ROOT } from './helpers.js';
import { ASL, assertNoFfmpegLeft, CRICKET_GIF, tempDir } from './video-fixtures.js';

interface Case {
  width: number;
  height: number;
  short: number;
  crop: number;
  input: number[];
  resized: { width: number; height: number; data: number[] };
  cropped: { x: number; y: number; data: number[] };
}
const { cases } = loadJson<{ cases: Case[] }>('test/fixtures/video-transforms.json');
const tmp = tempDir('i3d-pre-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('resize (shorter side, bilinear), centre crop and [-1, 1] match PyTorch interpolate(align_corners=False)', () => {
  assert.equal(cases.length, 5);
  for (const c of cases) {
    const name = `${c.width}x${c.height} -> short ${c.short}, crop ${c.crop}`;
    const src = Uint8Array.from(c.input);
    const r = resizeShorter(src, c.width, c.height, c.short);
    assert.deepEqual([r.width, r.height], [c.resized.width, c.resized.height], name);
    assert.ok(maxDiff(r.data, c.resized.data) < 1e-3, `${name}: resized differs by ${maxDiff(r.data, c.resized.data)}`);
    const off = cropOffset(r.width, r.height, c.crop);
    assert.deepEqual(off, { x: c.cropped.x, y: c.cropped.y }, name);
    const unfused = toUnitRange(crop(r.data, r.width, off.x, off.y, c.crop, c.crop).map((v) => Math.round(v * 1e4) / 1e4));
    assert.ok(maxDiff(unfused, c.cropped.data) < 1e-5, `${name}: crop + scale`);
    // The fused path loadClip uses: only the crop window is computed, scaled on the way out.
    const fused = new Resizer(c.width, c.height, r.width, r.height, 3, { ...off, width: c.crop, height: c.crop });
    const out = fused.run(src, new Float32Array(c.crop * c.crop * 3), 0, 2 / 255, -1);
    assert.ok(maxDiff(out, c.cropped.data) < 1e-5, `${name}: fused resize-crop-scale differs by ${maxDiff(out, c.cropped.data)}`);
  }
  assert.deepEqual(shorterSide(640, 480, 256), { width: 341, height: 256 });
  assert.deepEqual(shorterSide(240, 320, 256), { width: 256, height: 341 });
  assert.deepEqual(shorterSide(321, 241, 256), { width: 341, height: 256 });
});

test('random crops are uniform over valid positions and reproducible under a seed', () => {
  const seen = new Set<string>();
  const rng = mulberry32(3);
  for (let i = 0; i < 400; i++) {
    const o = cropOffset(228, 226, 224, 'random', rng);
    assert.ok(o.x >= 0 && o.x <= 4 && o.y >= 0 && o.y <= 2);
    seen.add(`${o.x},${o.y}`);
  }
  assert.equal(seen.size, 15, 'all 5 x 3 positions occur');
  assert.deepEqual(cropOffset(300, 300, 224, 'random', mulberry32(9)), cropOffset(300, 300, 224, 'random', mulberry32(9)));
  assert.throws(() => cropOffset(200, 300, 224), /a 224x224 crop does not fit in 200x300/);
});

test('sampling: centred and random windows, segments spread evenly, the seed spread rule, and looping', () => {
  // The official I3D: consecutive frames, centred for test.
  assert.deepEqual(windowIndices(10, 4), [3, 4, 5, 6]);
  assert.deepEqual(
    windowIndices(79, 79),
    Array.from({ length: 79 }, (_, i) => i),
  );
  // Short videos loop (the I3D paper): frame j of the window is (start + j) mod total.
  assert.deepEqual(windowIndices(3, 8), [0, 1, 2, 0, 1, 2, 0, 1]);
  assert.deepEqual(windowIndices(1, 3), [0, 0, 0]);
  // Segments (I3D-LSTM): one window per equal part, centred in it.
  assert.deepEqual(segmentIndices(100, 4, 5), [
    [10, 11, 12, 13, 14],
    [35, 36, 37, 38, 39],
    [60, 61, 62, 63, 64],
    [85, 86, 87, 88, 89],
  ]);
  // Parts shorter than a window: the window centred on the part, kept inside the video (windows overlap).
  assert.deepEqual(segmentIndices(10, 3, 4), [
    [0, 1, 2, 3],
    [3, 4, 5, 6],
    [6, 7, 8, 9],
  ]);
  // A video shorter than one window: every segment is the looped video.
  assert.deepEqual(segmentIndices(3, 2, 4), [
    [0, 1, 2, 0],
    [0, 1, 2, 0],
  ]);
  // The seed's videoto3D.py: floor(k * total / count).
  assert.deepEqual(sampleIndices(10, 4), [0, 2, 5, 7]);
  assert.deepEqual(sampleIndices(3, 5), [0, 1, 2, 0, 1]);
  // Random mode (temporal jitter): inside the bounds, reproducible, and it does move.
  const starts = new Set<number>();
  for (let s = 0; s < 50; s++) {
    const w = windowIndices(20, 8, { mode: 'random', rng: mulberry32(s) });
    assert.ok(w[0]! >= 0 && w[7] === w[0]! + 7 && w[7]! <= 19);
    starts.add(w[0]!);
    const seg = segmentIndices(100, 4, 5, { mode: 'random', rng: mulberry32(s) });
    seg.forEach((ws, i) => assert.ok(ws[0]! >= 25 * i && ws[4]! < 25 * (i + 1), `segment ${i} stays in its part: ${ws}`));
    const sp = sampleIndices(100, 10, { mode: 'random', rng: mulberry32(s) });
    sp.forEach((v, k) => assert.ok(v >= 10 * k && v < 10 * (k + 1)));
  }
  assert.ok(starts.size > 8, `random starts vary: ${[...starts]}`);
  assert.deepEqual(
    windowIndices(50, 8, { mode: 'random', rng: mulberry32(1) }),
    windowIndices(50, 8, { mode: 'random', rng: mulberry32(1) }),
  );
  assert.throws(() => windowIndices(0, 8), /'total' must be an integer >= 1, got 0/);
  assert.throws(() => windowIndices(5, 2, { mode: 'random' }), /needs an rng/);
});

test('horizontal flip mirrors every row; for optical flow it negates the x channel too', () => {
  // 2 frames of 1 x 3 pixels, 2 channels (flow: x, y).
  const flow = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);
  assert.deepEqual(Array.from(flipHorizontal(Float32Array.from(flow), 3, 2, true)), [-3, 30, -2, 20, -1, 10, -6, 60, -5, 50, -4, 40]);
  assert.deepEqual(Array.from(flipHorizontal(Float32Array.from(flow), 3, 2)), [3, 30, 2, 20, 1, 10, 6, 60, 5, 50, 4, 40]);
  const twice = flipHorizontal(flipHorizontal(Float32Array.from(flow), 3, 2, true), 3, 2, true);
  assert.deepEqual(Array.from(twice), Array.from(flow));
});

test('loadClip on the cricket GIF without resizing gives its frames exactly, scaled to [-1, 1]', async () => {
  const clip = await loadClip(CRICKET_GIF, { frames: 'all', resize: false });
  assert.deepEqual(clip.shape, [1, 79, 224, 224, 3]);
  let t = 0;
  for await (const f of decodeFrames(CRICKET_GIF, { fps: 25 })) {
    const want = toUnitRange(f.data);
    assert.equal(maxDiff(clip.data.subarray(t * want.length, (t + 1) * want.length), want), 0, `frame ${t}`);
    t++;
  }
  assert.equal(t, 79);
  // Official preprocessing of the 224x224 GIF: up to 256, centre crop 224: same shape, other values.
  const up = await loadClip(CRICKET_GIF, { frames: 64 });
  assert.deepEqual(up.shape, [1, 64, 224, 224, 3]);
  assert.deepEqual(
    up.indices,
    Array.from({ length: 64 }, (_, i) => i + 7),
    'the centred 64 of 79 frames',
  );
});

test('loadClip with segments equals decoding, resizing and cropping the chosen frames by hand', async () => {
  const file = ASL[1]!;
  const clip = await loadClip(file, { frames: 8, segments: 3 });
  assert.deepEqual(clip.shape, [1, 3, 8, 224, 224, 3]);
  assert.deepEqual(clip.indices, segmentIndices(clip.totalFrames, 3, 8).flat());
  const r = new Resizer(640, 480, 341, 256, 3, { x: 58, y: 16, width: 224, height: 224 });
  const len = 224 * 224 * 3;
  for await (const f of decodeFrames(file, { fps: 25 })) {
    clip.indices.forEach((idx, k) => {
      if (idx !== f.index) return;
      const want = r.run(f.data, new Float32Array(len), 0, 2 / 255, -1);
      assert.equal(maxDiff(clip.data.subarray(k * len, (k + 1) * len), want), 0, `clip frame ${k} (video frame ${idx})`);
    });
  }
  // Training mode: random crop, jitter and flip, reproducible under a seed.
  const a = await loadClip(file, { frames: 8, crop: 'random', flip: true, seed: 5 });
  const b = await loadClip(file, { frames: 8, crop: 'random', flip: true, seed: 5 });
  const c = await loadClip(file, { frames: 8, crop: 'random', flip: true, seed: 6 });
  assert.deepEqual(a.data, b.data);
  assert.deepEqual(a.indices, b.indices);
  assert.ok(maxDiff(a.data, c.data) > 0.1, 'another seed, another crop or window');
  await assert.rejects(loadClip(file, { frames: 0 }), /loadClip: 'frames' must be a positive integer, got 0/);
});

test('the decoded-video cache (frameCache) gives the clips of decoding each time; a video over the budget is not kept', async () => {
  const file = ASL[2]!;
  clearFrameCache();
  const modes = [
    { frames: 8, segments: 3 },
    { frames: 8, crop: 'random', flip: true, seed: 5 },
    { frames: 8, crop: 'random', flip: true, seed: 6, segments: 2 },
    { frames: 'all', resize: 64, size: 64 },
  ] as const;
  for (const m of modes) {
    const plain = await loadClip(file, m);
    const cached = await loadClip(file, { ...m, frameCache: 1024 * 2 ** 20 });
    assert.deepEqual(cached.indices, plain.indices, JSON.stringify(m));
    assert.equal(cached.totalFrames, plain.totalFrames);
    assert.equal(maxDiff(cached.data, plain.data), 0, JSON.stringify(m));
  }
  // Decoded once: one video in the cache, and the later clips of it come from memory.
  assert.equal(frameCacheStats().videos, 1);
  clearFrameCache();
  await loadClip(file, { frames: 8, frameCache: 1000 });
  assert.equal(frameCacheStats().videos, 0, 'a 1000-byte budget holds no 640x480 video');
});

test('a short video is decoded whole in one ffmpeg run: the clips of counting its frames and then decoding them', async () => {
  const file = join(tmp.dir, 'short.avi');
  await writeVideo(file, syntheticFrames('move_left', 2, 64, 40), { width: 64, height: 64 });
  // A wrapper that logs each ffmpeg run before it runs ffmpeg.
  const log = join(tmp.dir, 'ffmpeg-runs.log');
  const wrapper = join(tmp.dir, 'ffmpeg-logged');
  const previous = process.env.I3D_FFMPEG;
  writeFileSync(wrapper, `#!/bin/sh\necho run >> '${log}'\nexec '${ffmpegBin()}' "$@"\n`, { mode: 0o755 });
  const runs = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    writeFileSync(log, '');
    process.env.I3D_FFMPEG = wrapper;
    try {
      const r = await f();
      return [r, readFileSync(log, 'utf8').split('\n').filter(Boolean).length];
    } finally {
      if (previous === undefined) delete process.env.I3D_FFMPEG;
      else process.env.I3D_FFMPEG = previous;
    }
  };
  const total = await countFrames(file, { fps: 25 });
  assert.equal(total, 40);
  for (const m of [
    { frames: 8, size: 32, resize: 40 },
    { frames: 8, size: 32, resize: 40, segments: 3 },
    { frames: 16, size: 48, crop: 'random', flip: true, seed: 3 },
  ] as const) {
    const [whole, wholeRuns]: [Clip, number] = await runs(() => loadClip(file, m));
    const counted: ClipOptions = { ...m, totalFrames: total };
    const [streamed, streamedRuns]: [Clip, number] = await runs(() => loadClip(file, counted));
    assert.equal(wholeRuns, 1, 'decoded whole: one ffmpeg run');
    assert.equal(streamedRuns, 1, 'the count given: one ffmpeg run, up to the last frame needed');
    assert.deepEqual(whole.indices, streamed.indices, JSON.stringify(m));
    assert.equal(whole.totalFrames, 40);
    assert.equal(maxDiff(whole.data, streamed.data), 0, JSON.stringify(m));
  }
  // A video longer than it states: the whole decoding stops at twice the stated length, then it is counted and decoded.
  const lying = { ...(await probeVideo(file)), duration: 0.2 };
  const [liar, liarRuns]: [Clip, number] = await runs(() => loadClip(file, { frames: 8, size: 32, resize: 40, info: lying }));
  const [honest]: [Clip, number] = await runs(() => loadClip(file, { frames: 8, size: 32, resize: 40 }));
  assert.equal(liarRuns, 3, 'a stopped whole decoding, a counting run and a decoding run');
  assert.equal(liar.totalFrames, 40);
  assert.equal(maxDiff(liar.data, honest.data), 0);
  // A video over the whole-decoding size (the 640x480 ASL clip: 85 MB decoded) is counted, then decoded.
  const [, aslRuns] = await runs(() => loadClip(ASL[2]!, { frames: 8 }));
  assert.equal(aslRuns, 2, 'a counting run and a decoding run');
});

test('i3d preprocess writes [1, T, 224, 224, 3] or [1, S, T, 224, 224, 3] float32 .npy; bad options exit 1', () => {
  const bin = join(ROOT, 'dist/src/cli/main.js');
  const out = join(tmp.dir, 'clip.npy');
  const r = spawnSync(process.execPath, [bin, 'preprocess', CRICKET_GIF, '--frames', '16', '--segments', '2', '--out', out], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /79 frames at 25 fps -> .*clip\.npy \[1, 2, 16, 224, 224, 3\] float32/);
  const npy = readNpy(out);
  assert.equal(npy.descr, '<f4');
  assert.deepEqual(npy.shape, [1, 2, 16, 224, 224, 3]);
  const bad = spawnSync(process.execPath, [bin, 'preprocess', CRICKET_GIF, '--frames', 'zero', '--out', out], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--frames must be a positive integer, got 'zero'/);
});
