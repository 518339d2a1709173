// Optical flow: TV-L1 against a known translation and against OpenCV's Python binding on real frames; clipping and
// scaling to [-1, 1] and the channel order; the colour PNG; the disk cache; errors that name the problem.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { native } from '../src/native/binding.js';
import { ArgumentError } from '../src/index.js';
import {
  centerCropFlow,
  flowSequence,
  flowToClip,
  flowToColor,
  rgbToGray,
  scaleFlow,
  tvl1Flow,
  tvl1FlowAsync,
  tvl1Params,
  TVL1_DEFAULTS,
  writeFlowPng,
  type GrayFrame,
} from '../src/video/flow.js';
import { cachedFlow, flowCacheDir, flowCacheKey, type FlowArray } from '../src/video/flow-cache.js';
import { framesToFlow, videoFlow, type RgbFrame } from '../src/video/flow-video.js';
import { ROOT, SHARED } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'i3d-flow-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A smooth random texture (a sum of seeded sinusoids), sampled at (x - ox, y - oy): exact sub-pixel shifts. */
function texture(width: number, height: number, ox: number, oy: number): Float64Array {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) as number;
  const waves = Array.from({ length: 24 }, () => {
    const freq = 0.05 + 0.25 * rand();
    const angle = 2 * Math.PI * rand();
    return { fx: freq * Math.cos(angle), fy: freq * Math.sin(angle), phase: 2 * Math.PI * rand(), amp: 6 + 10 * rand() };
  });
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 128;
      for (const w of waves) v += w.amp * Math.sin(w.fx * (x - ox) + w.fy * (y - oy) + w.phase);
      out[y * width + x] = v;
    }
  }
  return out;
}

const toU8 = (a: Float64Array) => Uint8Array.from(a, (v) => Math.max(0, Math.min(255, Math.round(v))));

function meanFlow(flow: Float32Array, width: number, height: number, margin = 0): [number, number] {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let y = margin; y < height - margin; y++) {
    for (let x = margin; x < width - margin; x++) {
      sx += flow[2 * (y * width + x)]!;
      sy += flow[2 * (y * width + x) + 1]!;
      n++;
    }
  }
  return [sx / n, sy / n];
}

function ffmpeg(args: string[], input?: Buffer): Buffer {
  const r = spawnSync('ffmpeg', ['-v', 'error', ...args], { input, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr?.toString()}`);
  return r.stdout;
}

describe('TV-L1 on a textured image translating by a known amount', () => {
  test('sub-pixel shift (0.5, 0.75) px between two in-memory frames: mean flow within 0.25 px', async (t) => {
    const [w, h] = [160, 128];
    const a = toU8(texture(w, h, 0, 0));
    const b = toU8(texture(w, h, 0.5, 0.75));
    const flow = tvl1Flow(a, b, w, h);
    assert.equal(flow.length, w * h * 2);
    const [mx, my] = meanFlow(flow, w, h);
    t.diagnostic(`mean flow (${mx.toFixed(4)}, ${my.toFixed(4)}), truth (0.5, 0.75)`);
    assert.ok(Math.abs(mx - 0.5) < 0.25 && Math.abs(my - 0.75) < 0.25, `mean flow (${mx}, ${my}), truth (0.5, 0.75)`);
    // The async twin gives the same field; float input in [0, 1] the same as 8-bit.
    assert.deepEqual(await tvl1FlowAsync(a, b, w, h), flow);
    const f32 = (u: Uint8Array) => Float32Array.from(u, (v) => v / 255);
    const ff = tvl1Flow(f32(a), f32(b), w, h);
    const [fx, fy] = meanFlow(ff, w, h);
    assert.ok(Math.abs(fx - mx) < 0.01 && Math.abs(fy - my) < 0.01, `float frames: (${fx}, ${fy}) against 8-bit (${mx}, ${my})`);
  });

  test('a generated H.264 video moving (2, -1) px per frame, decoded by ffmpeg: mean flow within 0.25 px for every pair', async (t) => {
    const [w, h, n] = [224, 224, 4];
    const rgb = Buffer.alloc(w * h * 3 * n);
    for (let t = 0; t < n; t++) {
      const g = toU8(texture(w, h, 2 * t, -1 * t));
      for (let i = 0; i < w * h; i++) rgb.fill(g[i]!, (t * w * h + i) * 3, (t * w * h + i) * 3 + 3);
    }
    const video = join(tmp, 'translate.mkv');
    ffmpeg(
      ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-r', '25', '-i', 'pipe:0'].concat([
        '-c:v',
        'libx264',
        '-crf',
        '12',
        '-pix_fmt',
        'yuv420p',
        '-y',
        video,
      ]),
      rgb,
    );
    const decoded = ffmpeg(['-i', video, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    assert.equal(decoded.length, w * h * 3 * n);
    const frames: GrayFrame[] = [];
    for (let t = 0; t < n; t++) frames.push(rgbToGray(new Uint8Array(decoded.subarray(t * w * h * 3, (t + 1) * w * h * 3)), w, h));
    const fields: Float32Array[] = [];
    for await (const f of flowSequence(frames, w, h, { concurrency: 2 })) fields.push(f);
    assert.equal(fields.length, n - 1);
    fields.forEach((f, i) => {
      const [mx, my] = meanFlow(f, w, h);
      assert.ok(Math.abs(mx - 2) < 0.25 && Math.abs(my + 1) < 0.25, `pair ${i}: mean flow (${mx}, ${my}), truth (2, -1)`);
      const [ix, iy] = meanFlow(f, w, h, 16);
      t.diagnostic(
        `pair ${i}: mean flow (${mx.toFixed(4)}, ${my.toFixed(4)}), inside 16 px (${ix.toFixed(4)}, ${iy.toFixed(4)}), truth (2, -1)`,
      );
      assert.ok(Math.abs(ix - 2) < 0.1 && Math.abs(iy + 1) < 0.1, `pair ${i}: mean flow inside a 16 px margin (${ix}, ${iy})`);
    });
  });
});

interface FlowFixture {
  ffmpeg: { vf: string; first: number; frames: number; size: number };
  rgbSha256: string;
  graySha256: string;
  params: Record<string, number>;
  fixedPointScale: number;
  shape: [number, number, number, number];
  opencvPython: string;
}

describe("against OpenCV's Python binding (python3-opencv) on real frames (test/fixtures/make_flow.py)", () => {
  const fx = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/flow_asl_book.json'), 'utf8')) as FlowFixture;
  const { size, first, frames: count } = fx.ffmpeg;
  const raw = ffmpeg(
    ['-i', join(SHARED, 'data/videos/asl_book.mkv'), '-vf', fx.ffmpeg.vf, '-frames:v', String(first + count)].concat([
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ]),
  );
  const rgb = raw.subarray(first * size * size * 3, (first + count) * size * size * 3);
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  test('the same frames as the fixture, and rgbToGray equals cv2.cvtColor(RGB2GRAY) bit for bit', () => {
    assert.equal(sha(rgb), fx.rgbSha256, 'ffmpeg decoded other frames than when the fixture was made (another ffmpeg version?)');
    const gray = Buffer.concat(
      Array.from({ length: count }, (_, i) => rgbToGray(rgb.subarray(i * size * size * 3, (i + 1) * size * size * 3), size, size)),
    );
    assert.equal(sha(gray), fx.graySha256);
  });

  test('our parameters are the fixture’s (OpenCV defaults)', () => {
    assert.deepEqual(fx.params, { ...TVL1_DEFAULTS });
  });

  test('mean endpoint error against cv2.optflow.DualTVL1OpticalFlow below 0.1 px per pair', async (t) => {
    const ref = gunzipSync(readFileSync(join(ROOT, 'test/fixtures/flow_asl_book.i16.gz')));
    const [pairs, h, w] = fx.shape;
    assert.equal(ref.length, pairs * h * w * 2 * 2);
    const gray = Array.from({ length: count }, (_, i) =>
      rgbToGray(rgb.subarray(i * size * size * 3, (i + 1) * size * size * 3), size, size),
    );
    let k = 0;
    for await (const f of flowSequence(gray, size, size, { params: TVL1_DEFAULTS })) {
      let epe = 0;
      let refMag = 0;
      for (let i = 0; i < h * w; i++) {
        const rx = ref.readInt16LE((k * h * w + i) * 4) / fx.fixedPointScale;
        const ry = ref.readInt16LE((k * h * w + i) * 4 + 2) / fx.fixedPointScale;
        epe += Math.hypot(f[2 * i]! - rx, f[2 * i + 1]! - ry);
        refMag += Math.hypot(rx, ry);
      }
      epe /= h * w;
      t.diagnostic(`pair ${k}: mean endpoint error ${epe.toFixed(5)} px, mean reference magnitude ${(refMag / (h * w)).toFixed(3)} px`);
      assert.ok(refMag / (h * w) > 0.3, `pair ${k}: the reference flow should show motion`);
      assert.ok(epe < 0.1, `pair ${k}: mean endpoint error ${epe} px against OpenCV ${fx.opencvPython}`);
      k++;
    }
    assert.equal(k, pairs);
  });
});

describe('clip, scale and channel order', () => {
  test('values clipped to [-20, 20] and divided by 20, channels (x, y), shape [1, N, H, W, 2]', () => {
    const a = new Float32Array([25, -3, -40, 10, 0, 20]);
    const b = new Float32Array([-1, 1, 2, -2, 19.9, -20.1]);
    const clip = flowToClip([a, b], 3, 1);
    assert.deepEqual(clip.shape, [1, 2, 1, 3, 2]);
    const want = [1, -0.15, -1, 0.5, 0, 1, -0.05, 0.05, 0.1, -0.1, 0.995, -1];
    clip.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `element ${i}: ${v}, expected ${want[i]}`));
    assert.deepEqual(scaleFlow(new Float32Array([10, -10]), 5), new Float32Array([1, -1]));
  });

  test('a horizontal motion lands in channel 0 (x) and a vertical one in channel 1 (y), positive = right and down', () => {
    const [w, h] = [96, 96];
    const base = toU8(texture(w, h, 0, 0));
    const right = tvl1Flow(base, toU8(texture(w, h, 3, 0)), w, h);
    const down = tvl1Flow(base, toU8(texture(w, h, 0, 2)), w, h);
    const [rx, ry] = meanFlow(right, w, h, 8);
    const [dx, dy] = meanFlow(down, w, h, 8);
    assert.ok(Math.abs(rx - 3) < 0.25 && Math.abs(ry) < 0.25, `rightward: (${rx}, ${ry})`);
    assert.ok(Math.abs(dx) < 0.25 && Math.abs(dy - 2) < 0.25, `downward: (${dx}, ${dy})`);
    const clip = flowToClip([right, down], w, h);
    const at = (pair: number, y: number, x: number, c: number) => clip.data[(((pair * h + y) * w + x) * 2 + c) as number]!;
    assert.ok(Math.abs(at(0, 48, 48, 0) - 3 / 20) < 0.02 && Math.abs(at(0, 48, 48, 1)) < 0.02);
    assert.ok(Math.abs(at(1, 48, 48, 0)) < 0.02 && Math.abs(at(1, 48, 48, 1) - 2 / 20) < 0.02);
  });

  test('centre crop of a flow field', () => {
    const [w, h] = [5, 4];
    const f = Float32Array.from({ length: w * h * 2 }, (_, i) => i);
    const c = centerCropFlow(f, w, h, 2); // left 1, top 1
    assert.deepEqual([...c], [12, 13, 14, 15, 22, 23, 24, 25]);
  });

  test('colour coding: no motion is white, the PNG round-trips, one colour scale across frames', async () => {
    const [w, h] = [4, 2];
    const f = new Float32Array(w * h * 2);
    f[2] = 1; // pixel 1 moves right
    f[5] = -1; // pixel 2 moves up
    const rgb = flowToColor(f, w, h);
    assert.deepEqual([...rgb.subarray(0, 3)], [255, 255, 255]);
    assert.deepEqual([...rgb.subarray(3, 6)], [255, 0, 0]); // right = red on the Middlebury wheel (full saturation)
    assert.notDeepEqual([...rgb.subarray(6, 9)], [...rgb.subarray(3, 6)]);
    const half = flowToColor(f, w, h, 2); // a larger scale: paler
    assert.ok(half[4]! > 0 && half[4]! < 255);
    const file = join(tmp, 'flow.png');
    await writeFlowPng(file, f, w, h);
    const png = PNG.sync.read(readFileSync(file));
    assert.equal(png.width, w);
    assert.equal(png.height, h);
    for (let i = 0; i < w * h; i++) assert.deepEqual([...png.data.subarray(4 * i, 4 * i + 3)], [...rgb.subarray(3 * i, 3 * i + 3)]);
  });
});

describe('disk cache', () => {
  const settings = { implementation: 'opencv-dualtvl1 test', params: { ...TVL1_DEFAULTS }, sampling: { fps: 25, shorterSide: 256 } };

  test('a re-run reads the flow back: compute is not called again and the cache file is not rewritten', async () => {
    const dir = join(tmp, 'cache-home');
    const saved = process.env.I3D_CACHE_DIR;
    process.env.I3D_CACHE_DIR = dir;
    try {
      assert.equal(flowCacheDir(), join(dir, 'flow'));
      const video = join(tmp, 'video.bin');
      writeFileSync(video, 'not really a video, but bytes to hash');
      const [w, h] = [48, 40];
      let calls = 0;
      const compute = async (): Promise<FlowArray> => {
        calls++;
        const f = await tvl1FlowAsync(toU8(texture(w, h, 0, 0)), toU8(texture(w, h, 1, 0)), w, h);
        return { data: f, shape: [1, h, w, 2] };
      };
      const first = await cachedFlow(video, settings, compute);
      assert.equal(first.cached, false);
      assert.equal(calls, 1);
      assert.ok(first.file.startsWith(join(dir, 'flow')), first.file);
      const mtime = statSync(first.file).mtimeMs;
      const second = await cachedFlow(video, settings, compute);
      assert.equal(calls, 1, 'the second run must not recompute');
      assert.equal(second.cached, true);
      assert.deepEqual(second.shape, [1, h, w, 2]);
      assert.deepEqual(second.data, first.data);
      assert.equal(statSync(second.file).mtimeMs, mtime);

      // Other parameters, other sampling or other video bytes: another key, computed once more.
      await cachedFlow(video, { ...settings, params: { ...TVL1_DEFAULTS, warps: 3 } }, compute);
      assert.equal(calls, 2);
      await cachedFlow(video, { ...settings, sampling: { fps: 30, shorterSide: 256 } }, compute);
      assert.equal(calls, 3);
      writeFileSync(video, 'other bytes');
      await cachedFlow(video, settings, compute);
      assert.equal(calls, 4);
    } finally {
      if (saved === undefined) delete process.env.I3D_CACHE_DIR;
      else process.env.I3D_CACHE_DIR = saved;
    }
  });

  test('a damaged cache file is a miss and is replaced; the key does not depend on key order', async () => {
    const dir = join(tmp, 'cache-damaged');
    const video = join(tmp, 'video2.bin');
    writeFileSync(video, 'bytes');
    let calls = 0;
    const compute = async (): Promise<FlowArray> => {
      calls++;
      return { data: new Float32Array([1, 2, 3, 4]), shape: [1, 1, 2, 2] };
    };
    const r = await cachedFlow(video, { ...settings, dir }, compute);
    writeFileSync(r.file, readFileSync(r.file).subarray(0, 30)); // truncated
    const again = await cachedFlow(video, { ...settings, dir }, compute);
    assert.equal(calls, 2);
    assert.equal(again.cached, false);
    assert.deepEqual((await cachedFlow(video, { ...settings, dir }, compute)).data, new Float32Array([1, 2, 3, 4]));
    assert.equal(calls, 2);
    const sha = 'ab'.repeat(32);
    assert.equal(
      flowCacheKey(sha, { implementation: 'x', params: { a: 1, b: 2 }, sampling: {} }),
      flowCacheKey(sha, { implementation: 'x', params: { b: 2, a: 1 }, sampling: {} }),
    );
  });

  test('XDG_CACHE_HOME and the home folder when I3D_CACHE_DIR is not set; a missing video is named', async () => {
    assert.equal(flowCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/i3d/flow');
    assert.match(flowCacheDir({}), /\.cache\/i3d\/flow$/);
    await assert.rejects(
      cachedFlow(join(tmp, 'missing.mkv'), settings, async () => ({ data: new Float32Array(0), shape: [0] })),
      /missing\.mkv: cannot read the file to hash it for the flow cache \(ENOENT\)/,
    );
  });
});

describe('a whole video: decoded frames -> flow -> centre crop -> cache -> clip', () => {
  const [w, h, n] = [300, 256, 5];
  const video = join(tmp, 'whole.mkv');
  const rgb = Buffer.alloc(w * h * 3 * n);
  for (let t = 0; t < n; t++) {
    const g = toU8(texture(w, h, 1.5 * t, 0.5 * t));
    for (let i = 0; i < w * h; i++) rgb.fill(g[i]!, (t * w * h + i) * 3, (t * w * h + i) * 3 + 3);
  }
  ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-r', '25', '-i', 'pipe:0', '-c:v', 'ffv1', '-y', video], rgb);
  let decodes = 0;
  // Stands in for src/video/decode.ts: RGB frames of the video, one at a time.
  async function* decode(): AsyncGenerator<RgbFrame> {
    decodes++;
    const raw = ffmpeg(['-i', video, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    for (let t = 0; t * w * h * 3 < raw.length; t++)
      yield { data: new Uint8Array(raw.subarray(t * w * h * 3, (t + 1) * w * h * 3)), width: w, height: h };
  }
  const opts = { crop: 224, sampling: { fps: 25, shorterSide: 256 }, cacheDir: join(tmp, 'cache-video') };

  test('[1, N, 224, 224, 2] in [-1, 1] with the motion in (x, y); the second run decodes nothing', async (t) => {
    const first = await videoFlow(video, decode, opts);
    assert.equal(first.cached, false);
    assert.deepEqual(first.clip.shape, [1, n - 1, 224, 224, 2]);
    assert.deepEqual(first.flow.shape, [n - 1, 224, 224, 2]);
    for (let p = 0; p < n - 1; p++) {
      const [mx, my] = meanFlow(first.flow.data.subarray(p * 224 * 224 * 2, (p + 1) * 224 * 224 * 2), 224, 224);
      t.diagnostic(`pair ${p}: mean flow (${mx.toFixed(4)}, ${my.toFixed(4)}), truth (1.5, 0.5)`);
      assert.ok(Math.abs(mx - 1.5) < 0.25 && Math.abs(my - 0.5) < 0.25, `pair ${p}: (${mx}, ${my})`);
    }
    assert.ok(first.clip.data.every((v) => v >= -1 && v <= 1));
    assert.ok(Math.abs(first.clip.data[2 * (112 * 224 + 112)]! - 1.5 / 20) < 0.01);
    assert.equal(decodes, 1);
    const second = await videoFlow(video, decode, opts);
    assert.equal(decodes, 1, 'a re-run must not decode or compute again');
    assert.equal(second.cached, true);
    assert.deepEqual(second.clip.data, first.clip.data);
    const uncached = await videoFlow(video, decode, { ...opts, cache: false });
    assert.equal(decodes, 2, 'cache: false computes');
    assert.equal(uncached.cacheFile, null);
    assert.deepEqual(uncached.clip.data, first.clip.data);
    // The crop is the centre of the flow over the whole frame.
    const whole = await framesToFlow(decode(), { concurrency: 2 });
    assert.deepEqual(whole.shape, [n - 1, h, w, 2]);
    assert.deepEqual(centerCropFlow(whole.data.subarray(0, w * h * 2), w, h, 224), first.flow.data.subarray(0, 224 * 224 * 2));
  });

  test('frames of different sizes, a crop larger than the frames and too few frames are named', async () => {
    const f = (width: number, height: number): RgbFrame => ({ data: new Uint8Array(width * height * 3), width, height });
    await assert.rejects(framesToFlow([f(8, 6), f(8, 6), f(6, 8)]), /'frames\[2\]' must be 8x6 like the first frame, got "6x8"/);
    await assert.rejects(framesToFlow([f(8, 6), f(8, 6)], { crop: 7 }), /'crop' must be at most the frames' shorter side \(6\), got 7/);
    await assert.rejects(framesToFlow([f(8, 6)]), /'frames' must be at least 2 frames, got "1 frame"/);
    await assert.rejects(framesToFlow([]), /'frames' must be at least 2 frames, got "none"/);
  });
});

describe('bad input', () => {
  const a = new Uint8Array(12);
  test('mismatched sizes, types and parameters are named', async () => {
    assert.throws(() => tvl1Flow(a, new Uint8Array(11), 4, 3), {
      code: 'I3D_INVALID_ARGUMENT',
      message: /'next' must be width \* height = 4 \* 3 = 12 gray pixels long, got 11 pixels/,
    });
    assert.throws(() => tvl1Flow(a, a, 4, 4), /'prev' must be width \* height = 4 \* 4 = 16 gray pixels long, got 12 pixels/);
    assert.throws(() => tvl1Flow(a, new Float32Array(12), 4, 3), /'next' must be the same type as 'prev' \(Uint8Array\)/);
    assert.throws(() => tvl1Flow(a, [1, 2] as unknown as Uint8Array, 4, 3), /'next' must be a Uint8Array or Float32Array/);
    assert.throws(() => tvl1Flow(a, a, 4.5, 3), /'width' must be an integer >= 2, got 4.5/);
    assert.throws(() => tvl1Flow(a, a, 4, 3, { warps: 0 }), /'params.warps' must be an integer >= 1, got 0/);
    assert.throws(() => tvl1Flow(a, a, 4, 3, { medianFiltering: 4 }), /'params.medianFiltering' must be 1, 3 or 5, got 4/);
    assert.throws(() => tvl1Flow(a, a, 4, 3, { scaleStep: 1 }), /'params.scaleStep' must be a number in \(0, 1\), got 1/);
    assert.throws(() => tvl1Params({ lamda: 0.1 } as never), /'params' must be made of tau, lambda, .*, got "lamda"/);
    const nan = new Float32Array(12);
    nan[5] = NaN;
    assert.throws(() => tvl1Flow(nan, new Float32Array(12), 4, 3), /'prev' must be finite gray values, got NaN at pixel 5/);
    await assert.rejects(tvl1FlowAsync(a, new Uint8Array(3), 4, 3), ArgumentError);
    assert.throws(() => rgbToGray(new Uint8Array(10), 2, 2), /'rgb' must be width \* height \* 3 = 12 bytes long, got 10 bytes/);
    assert.throws(() => flowToClip([], 2, 2), /'fields' must be a non-empty array/);
    assert.throws(
      () => flowToClip([new Float32Array(8), new Float32Array(6)], 2, 2),
      /'fields\[1\]' must be width \* height \* 2 = 8 floats long, got 6 floats/,
    );
    assert.throws(() => centerCropFlow(new Float32Array(8), 2, 2, 3), /'size' must be at most the field's shorter side \(2\), got 3/);
    assert.throws(() => scaleFlow(new Float32Array(2), 0), /'bound' must be a number > 0/);
  });

  test('a frame of the wrong size in a sequence names the frames', async () => {
    const frames = [new Uint8Array(12), new Uint8Array(12), new Uint8Array(9)];
    const seq = flowSequence(frames, 4, 3, { concurrency: 1 });
    await assert.rejects(async () => {
      for await (const f of seq) assert.equal(f.length, 24);
    }, /flowSequence \(frames 1 and 2\): 'next' must be width \* height = 4 \* 3 = 12 gray pixels long, got 9 pixels/);
  });

  test('an exception in the native code becomes a JavaScript Error with its message', async () => {
    assert.throws(() => native.tvl1Flow(a, a, 4, 3, [1, 2]), { name: 'Error', message: /expected 11 parameters/ });
    assert.throws(() => native.tvl1FlowAsync(a, a, 4, 3, [1, 2]), /expected 11 parameters/);
  });
});
