// Edge cases generated with ffmpeg: each gives the documented clip or a clear error naming the file
// (the CLI exits with 1, never a signal), and no ffmpeg process is left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { readNpy } from '../src/io/npy.js';
import { loadClip } from '../src/video/clip.js';
import { VideoError } from '../src/video/errors.js';
import { mulberry32 } from '../src/core/rng.js';
import { ROOT } from './helpers.js';
import { ASL, assertNoFfmpegLeft, BOTTLE, ffmpeg, pattern, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-edge-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);
const at = (name: string) => join(tmp.dir, name);
const BIN = join(ROOT, 'dist/src/cli/main.js');
const FRAME = 224 * 224 * 3;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** Fails on both paths: loadClip rejects with `code`, and `i3d preprocess` exits 3 (bad input file) with the message and writes nothing. */
async function expectError(file: string, code: string, msg: RegExp): Promise<void> {
  await assert.rejects(
    loadClip(file, { frames: 8 }),
    (e: unknown) => e instanceof VideoError && e.code === code && e.file === file && msg.test(e.message),
  );
  const out = at('out.npy');
  const r = cli('preprocess', file, '--frames', '8', '--out', out);
  assert.equal(r.signal, null, `${file}: killed by ${r.signal}`);
  assert.equal(r.status, 3, `${file}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^i3d: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  assert.match(r.stderr, msg);
  assert.equal(existsSync(out), false, 'no partial output');
}

const frameOf = (data: Float32Array, t: number) => data.subarray(t * FRAME, (t + 1) * FRAME);

test('0 bytes, random bytes named .avi, a missing file: clear errors', async () => {
  const empty = at('empty.avi');
  writeFileSync(empty, '');
  await expectError(empty, 'I3D_VIDEO_EMPTY', /the file is empty \(0 bytes\)/);
  const junk = at('random.avi');
  const rng = mulberry32(7);
  writeFileSync(
    junk,
    Uint8Array.from({ length: 20000 }, () => Math.floor(rng() * 256)),
  );
  await expectError(junk, 'I3D_VIDEO_UNREADABLE', /ffmpeg cannot read it: Invalid data found when processing input/);
  await expectError(at('missing.mp4'), 'I3D_VIDEO_NOT_FOUND', /cannot open \(ENOENT\)/);
});

test('files cut at 50% (MP4, MP4 with the index first, Matroska) are TRUNCATED', async () => {
  const mp4 = readFileSync(BOTTLE);
  writeFileSync(at('cut.mp4'), mp4.subarray(0, mp4.length >> 1));
  await expectError(at('cut.mp4'), 'I3D_VIDEO_TRUNCATED', /the file is cut short/);
  const fast = ffmpeg(at('faststart.mp4'), ['-i', ASL[0]!, '-c', 'copy', '-movflags', '+faststart']);
  const f = readFileSync(fast);
  writeFileSync(at('cut-faststart.mp4'), f.subarray(0, f.length >> 1));
  await expectError(at('cut-faststart.mp4'), 'I3D_VIDEO_TRUNCATED', /the file is cut short \(.*partial file\)/);
  const mkv = readFileSync(ASL[0]!);
  writeFileSync(at('cut.mkv'), mkv.subarray(0, mkv.length >> 1));
  await expectError(at('cut.mkv'), 'I3D_VIDEO_TRUNCATED', /the file is cut short \(File ended prematurely\)/);
});

test('audio only: NO_VIDEO_STREAM', async () => {
  const audio = ffmpeg(at('audio.m4a'), ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1']);
  await expectError(audio, 'I3D_VIDEO_NO_VIDEO_STREAM', /no video stream \(only audio\)/);
});

test('1 and 6 frames: the video is looped to fill the clip', async () => {
  const one = pattern(at('one.mkv'), { frames: 1, width: 64, height: 48 });
  const c1 = await loadClip(one, { frames: 8 });
  assert.deepEqual(c1.shape, [1, 8, 224, 224, 3]);
  assert.deepEqual(c1.indices, [0, 0, 0, 0, 0, 0, 0, 0]);
  for (let t = 1; t < 8; t++) assert.deepEqual(frameOf(c1.data, t), frameOf(c1.data, 0));
  const six = pattern(at('six.mkv'), { frames: 6, width: 64, height: 48 });
  const c6 = await loadClip(six, { frames: 8 });
  assert.equal(c6.totalFrames, 6);
  assert.deepEqual(c6.indices, [0, 1, 2, 3, 4, 5, 0, 1]);
  assert.deepEqual(frameOf(c6.data, 6), frameOf(c6.data, 0));
  assert.deepEqual(frameOf(c6.data, 7), frameOf(c6.data, 1));
  assert.notDeepEqual(frameOf(c6.data, 1), frameOf(c6.data, 0));
  // Segments of 4 frames: the video holds a window, so no loop; the two windows are centred in their halves.
  const s = await loadClip(six, { frames: 4, segments: 2 });
  assert.deepEqual(s.shape, [1, 2, 4, 224, 224, 3]);
  assert.deepEqual(s.indices, [0, 1, 2, 3, 2, 3, 4, 5]);
  // The CLI writes the same clip.
  const r = cli('preprocess', six, '--frames', '8', '--out', at('six.npy'));
  assert.equal(r.status, 0, r.stderr);
  const npy = readNpy(at('six.npy'));
  assert.deepEqual(npy.shape, [1, 8, 224, 224, 3]);
  assert.deepEqual(npy.data, c6.data);
});

test('16x16 and 321x241: resized so the shorter side is 256, then centre-cropped to 224', async () => {
  for (const [w, h] of [
    [16, 16],
    [321, 241],
  ] as const) {
    const f = pattern(at(`${w}x${h}.mkv`), { frames: 3, width: w, height: h, pixFmt: 'yuv444p' });
    const c = await loadClip(f, { frames: 3 });
    assert.deepEqual(c.shape, [1, 3, 224, 224, 3]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of c.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= -1 && hi <= 1 && hi - lo > 1, `${w}x${h}: values in [-1, 1] with contrast: [${lo}, ${hi}]`);
  }
});

test('rotated 90: the clip equals that of the same video physically turned', async () => {
  const src = pattern(at('src.mp4'), { frames: 4, width: 320, height: 240, codec: ['-c:v', 'libx264'] });
  const rot = ffmpeg(at('rot90.mp4'), ['-i', src, '-c', 'copy', '-metadata:s:v:0', 'rotate=90']);
  // ffprobe reports the display matrix as 90 degrees counterclockwise: a player turns the picture that way.
  const turned = ffmpeg(at('turned.mkv'), ['-i', src, '-vf', 'transpose=cclock', '-c:v', 'ffv1']);
  const a = await loadClip(rot, { frames: 4 });
  const b = await loadClip(turned, { frames: 4 });
  assert.deepEqual(a.shape, [1, 4, 224, 224, 3]);
  assert.deepEqual(a.data, b.data);
});

test('grayscale gives R = G = B; 10-bit yuv420p10le gives 8-bit RGB close to the 8-bit encode', async () => {
  const gray = pattern(at('gray.mkv'), { frames: 2, width: 96, height: 64, pixFmt: 'gray' });
  const g = await loadClip(gray, { frames: 2 });
  for (let i = 0; i < g.data.length; i += 3) assert.ok(g.data[i] === g.data[i + 1] && g.data[i] === g.data[i + 2], `pixel ${i / 3}`);
  const ten = pattern(at('p10.mkv'), { frames: 2, width: 96, height: 64, pixFmt: 'yuv420p10le' });
  const eight = pattern(at('p8.mkv'), { frames: 2, width: 96, height: 64, pixFmt: 'yuv420p' });
  const a = await loadClip(ten, { frames: 2 });
  const b = await loadClip(eight, { frames: 2 });
  // 8-bit storage rounds Y, Cb and Cr: about 1.4 levels of 255 on average here (one level is 2/255 in [-1, 1]).
  let diff = 0;
  for (let i = 0; i < a.data.length; i++) diff += Math.abs(a.data[i]! - b.data[i]!);
  assert.ok(diff / a.data.length < 2 * (2 / 255), `mean |10-bit - 8-bit| = ${diff / a.data.length}`);
});
