// Decoding the real files of ../shared/data with ffmpeg: probing, counting by decoding, resampling by timestamps,
// rotation, streaming with early stop, limits and the hard timeout; no ffmpeg is left behind.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { countFrames, decodeFrames } from '../src/video/decode.js';
import { VideoError } from '../src/video/errors.js';
import { probeVideo } from '../src/video/probe.js';
import { ASL, assertNoFfmpegLeft, BOTTLE, CRICKET_GIF, ffmpeg, pattern, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-decode-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);

const isVideoError = (code: string, file: string, msg: RegExp) => (e: unknown) =>
  e instanceof VideoError && e.code === code && e.file === file && e.message.startsWith(`${file}: `) && msg.test(e.message);

test('probeVideo describes the real files: size, codec, pixel format, rate; the .mkv states no stream duration', async () => {
  const b = await probeVideo(BOTTLE);
  assert.deepEqual(
    { w: b.width, h: b.height, codec: b.codec, pix: b.pixFmt, rot: b.rotation, frames: b.framesStated },
    { w: 640, h: 360, codec: 'h264', pix: 'yuv420p', rot: 0, frames: 1189 },
  );
  assert.ok(Math.abs(b.fps! - 179 / 6) < 1e-9);
  assert.ok(Math.abs(b.duration! - 39.85) < 0.01);
  const a = await probeVideo(ASL[0]!);
  assert.deepEqual([a.width, a.height, a.codec, a.container, a.fps], [640, 480, 'h264', 'matroska,webm', 30]);
  const g = await probeVideo(CRICKET_GIF);
  assert.deepEqual([g.width, g.height, g.codec, g.fps], [224, 224, 'gif', 25]);
});

test('frames are counted by decoding, at 25 fps by timestamps, and decodeFrames agrees with countFrames', async () => {
  // The cricket GIF: 79 frames of 224x224 at 25 fps.
  let n = 0;
  for await (const f of decodeFrames(CRICKET_GIF, { fps: 25 })) {
    assert.deepEqual([f.width, f.height, f.data.length, f.index, f.timeSec], [224, 224, 224 * 224 * 3, n, n / 25]);
    n++;
  }
  assert.equal(n, 79);
  assert.equal(await countFrames(CRICKET_GIF, { fps: 25 }), 79);
  // bottle-detection.mp4: 1189 frames at 179/6 fps (39.85 s) are 996 frames at 25 fps.
  assert.equal(await countFrames(BOTTLE), 1189);
  assert.equal(await countFrames(BOTTLE, { fps: 25 }), 996);
  // The .mkv clips: 30 fps, no stream duration; every one decodes, and both counts agree.
  for (const f of ASL) {
    const counted = await countFrames(f, { fps: 25 });
    let decoded = 0;
    for await (const fr of decodeFrames(f, { fps: 25 })) {
      assert.equal(fr.data.length, 640 * 480 * 3);
      decoded++;
    }
    assert.equal(decoded, counted, f);
    // Only the container states a duration; the count by decoding agrees with it to a frame.
    const stated = (await probeVideo(f)).duration!;
    assert.ok(Math.abs(counted - stated * 25) <= 1.5, `${f}: ${counted} frames at 25 fps for ${stated} s`);
  }
});

test('variable frame rate: resampling to 25 fps follows timestamps, not the stated rate', async () => {
  // Frame n of a 50 fps source has gray level n; keep every 5th frame for 2 s (10 fps), then all for 1 s (50 fps):
  // 70 stored frames over 3 s, stated rate 50.
  const vfr = ffmpeg(join(tmp.dir, 'vfr.mkv'), [
    '-f',
    'lavfi',
    '-i',
    "nullsrc=s=32x32:r=50,format=gray,geq=lum='N'",
    '-t',
    '3',
    '-vf',
    "select='if(lt(t,2),not(mod(n,5)),1)'",
    '-fps_mode',
    'vfr',
    '-c:v',
    'ffv1',
  ]);
  const kept = Array.from({ length: 150 }, (_, n) => n).filter((n) => n >= 100 || n % 5 === 0);
  assert.equal(await countFrames(vfr), 70);
  const native: number[] = [];
  for await (const f of decodeFrames(vfr)) native.push(f.data[0]!);
  assert.deepEqual(native, kept);
  const shown: number[] = [];
  for await (const f of decodeFrames(vfr, { fps: 25 })) shown.push(f.data[0]!);
  assert.equal(shown.length, 75, '3 s at 25 fps');
  // Output frame k (time k/25) shows the last source frame whose timestamp, rounded to the 25 fps grid, is <= k.
  const expected = shown.map((_, k) => Math.max(...kept.filter((n) => Math.round(n / 2) <= k)));
  assert.deepEqual(shown, expected);
});

test('rotation metadata is applied: a 320x240 video tagged 90 degrees decodes as 240x320', async () => {
  const src = pattern(join(tmp.dir, 'flat.mp4'), { frames: 5, width: 320, height: 240, codec: ['-c:v', 'libx264'] });
  const rot = ffmpeg(join(tmp.dir, 'rot90.mp4'), ['-i', src, '-c', 'copy', '-metadata:s:v:0', 'rotate=90']);
  const info = await probeVideo(rot);
  assert.deepEqual([info.width, info.height, info.rotation], [240, 320, 90]);
  let n = 0;
  for await (const f of decodeFrames(rot)) {
    assert.deepEqual([f.width, f.height], [240, 320]);
    n++;
  }
  assert.equal(n, 5);
});

test('streaming: stopping after 3 frames of a 40 s video kills ffmpeg and leaves none behind', async () => {
  let n = 0;
  for await (const f of decodeFrames(BOTTLE, { fps: 25 })) {
    assert.equal(f.width, 640);
    if (++n === 3) break;
  }
  assert.equal(n, 3);
  assertNoFfmpegLeft();
  const some: number[] = [];
  for await (const f of decodeFrames(BOTTLE, { maxFrames: 4, shorterSide: 128 })) some.push(f.width * 1000 + f.height);
  assert.deepEqual(some, [228128, 228128, 228128, 228128], 'ffmpeg scaling: 640x360 -> 228x128 (rounded)');
});

test('limits: size, stated duration, duration found while decoding, and the hard timeout', async () => {
  await assert.rejects(
    probeVideo(BOTTLE, { maxPixels: 640 * 359 }),
    isVideoError('I3D_VIDEO_TOO_LARGE', BOTTLE, /640x360 is above the limit of 229760 pixels/),
  );
  await assert.rejects(
    probeVideo(BOTTLE, { maxDurationSec: 10 }),
    isVideoError('I3D_VIDEO_TOO_LONG', BOTTLE, /39\.9 s is above the limit of 10 s/),
  );
  // When no duration is stated, the limit holds while decoding.
  const info = await probeVideo(BOTTLE);
  delete info.duration;
  const decodeAll = async () => {
    for await (const f of decodeFrames(BOTTLE, { fps: 25, maxDurationSec: 2, info })) assert.ok(f.timeSec <= 2);
  };
  await assert.rejects(decodeAll(), isVideoError('I3D_VIDEO_TOO_LONG', BOTTLE, /longer than the limit of 2 s/));
  await assert.rejects(
    countFrames(BOTTLE, { fps: 25, maxDurationSec: 2, info }),
    isVideoError('I3D_VIDEO_TOO_LONG', BOTTLE, /limit of 2 s/),
  );
  assertNoFfmpegLeft();
  // A 1 ms limit: ffmpeg cannot decode 40 s of H.264 in that time; its process group is killed.
  await assert.rejects(
    countFrames(BOTTLE, { fps: 25, timeoutMs: 1, info }),
    isVideoError('I3D_VIDEO_TIMEOUT', BOTTLE, /ffmpeg ran past the 0\.001 s time limit and was killed/),
  );
  const decodeSlow = async () => {
    for await (const f of decodeFrames(BOTTLE, { timeoutMs: 1, info })) void f;
  };
  await assert.rejects(decodeSlow(), isVideoError('I3D_VIDEO_TIMEOUT', BOTTLE, /time limit/));
});
