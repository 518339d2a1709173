// The hostile-input corpus (issue 15, part 1): small files made with ffmpeg (and by hand) into a temporary folder,
// nothing committed. Each kind lives in its own dataset folder `<root>/<kind>/c/<file>`, so the same object serves
// `i3d dataset inspect <root>/<kind>` and the single-file commands. `expect` is the documented outcome of reading it
// as a video: 'ok' (a valid result) or the VideoError codes it may fail with.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../src/core/rng.js';

export interface Kind {
  kind: string;
  /** What it is, for the table. */
  what: string;
  file: string;
  /** 'ok' or the codes a reader may answer with (the first is the usual one). */
  expect: readonly string[];
  /** For the growing file: call before each run; appends the rest of the file while the command reads. */
  grow?: () => () => void;
}

function ff(out: string, args: string[]): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args, out], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
  return out;
}

const lavfi = (src: string) => ['-f', 'lavfi', '-i', src];
const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
const moving = (w: number, h: number, rate = 25) => `testsrc2=s=${w}x${h}:r=${rate}`;

/** Bytes from a seeded generator. */
function noise(n: number, seed: number): Buffer {
  const rng = mulberry32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

/** The offset of a top-level or nested box type in an MP4 (first match). */
function boxAt(b: Buffer, type: string): number {
  const i = b.indexOf(Buffer.from(type, 'latin1'));
  if (i < 4) throw new Error(`no '${type}' box`);
  return i - 4;
}

/**
 * Makes the corpus under `root`. `port` is the loopback listener's port that the playlists point at. `quick` makes
 * only the kinds that the default test suite runs.
 */
export function makeCorpus(root: string, port: number, quick = false): Kind[] {
  const kinds: Kind[] = [];
  const tmp = join(root, '.src');
  mkdirSync(tmp, { recursive: true });
  const place = (kind: string, name: string): string => {
    const d = join(root, kind, 'c');
    mkdirSync(d, { recursive: true });
    return join(d, name);
  };
  const add = (kind: string, what: string, name: string, expect: readonly string[], make: (file: string) => void) => {
    const file = place(kind, name);
    make(file);
    kinds.push({ kind, what, file, expect });
  };
  // Sources the mutations start from.
  const mp4 = ff(join(tmp, 'ok.mp4'), [...lavfi(moving(64, 48)), '-frames:v', '20', ...x264]);
  const mkv = ff(join(tmp, 'ok.mkv'), [...lavfi(moving(64, 48)), '-frames:v', '20', '-c:v', 'ffv1']);
  const good = readFileSync(mp4);

  add('empty', '0 bytes', 'empty.mp4', ['EMPTY'], (f) => writeFileSync(f, ''));
  add('random', '64 KiB of random bytes', 'random.mp4', ['UNREADABLE', 'TRUNCATED'], (f) => writeFileSync(f, noise(65536, 1)));
  add('text', 'a text file named .mp4', 'notes.mp4', ['UNREADABLE', 'TRUNCATED'], (f) => writeFileSync(f, 'not a video\n'.repeat(100)));
  add('truncated-10', 'an MP4 (index at the end) cut at 10%', 'cut10.mp4', ['TRUNCATED', 'UNREADABLE'], (f) =>
    writeFileSync(f, good.subarray(0, Math.floor(good.length * 0.1))),
  );
  add('missing-moov', "an MP4 without its 'moov' box (all media data, no index)", 'nomoov.mp4', ['TRUNCATED', 'UNREADABLE'], (f) =>
    writeFileSync(f, good.subarray(0, boxAt(good, 'moov'))),
  );
  add('dir', 'a directory named x.mp4', 'x.mp4', ['NOT_FOUND'], (f) => mkdirSync(f));
  add('fifo', 'a FIFO named x.mp4 (nobody writes to it)', 'fifo.mp4', ['NOT_FOUND'], (f) => {
    const r = spawnSync('mkfifo', [f]);
    if (r.status !== 0) throw new Error('mkfifo failed');
  });
  add('dev-zero', 'a symlink to /dev/zero', 'zero.mp4', ['NOT_FOUND'], (f) => symlinkSync('/dev/zero', f));
  add('ffconcat', 'an ffconcat list of /etc/passwd, a local video and a loopback URL', 'list.ffconcat', ['UNREADABLE'], (f) =>
    writeFileSync(f, `ffconcat version 1.0\nfile '${mkv}'\nfile '/etc/passwd'\nfile 'http://127.0.0.1:${port}/x.mp4'\n`),
  );
  add('ok', 'a valid MP4 (64x48, 20 frames)', 'ok.mp4', ['ok'], (f) => writeFileSync(f, good));
  if (quick) return kinds;

  add('truncated-50', 'an MP4 cut at 50%', 'cut50.mp4', ['TRUNCATED', 'UNREADABLE'], (f) =>
    writeFileSync(f, good.subarray(0, Math.floor(good.length * 0.5))),
  );
  add('truncated-mkv', 'a Matroska file cut at 60% (frames before the cut decode)', 'cut60.mkv', ['ok', 'TRUNCATED'], (f) => {
    const b = readFileSync(mkv);
    writeFileSync(f, b.subarray(0, Math.floor(b.length * 0.6)));
  });
  add('garbage-after', 'a valid Matroska file with 64 KiB of random bytes after it', 'tail.mkv', ['ok', 'TRUNCATED', 'UNREADABLE'], (f) =>
    writeFileSync(f, Buffer.concat([readFileSync(mkv), noise(65536, 2)])),
  );
  add('bit-flips', 'a valid MP4 with 40 bit flips in its second half', 'flips.mp4', ['ok', 'TRUNCATED', 'UNREADABLE', 'NO_FRAMES'], (f) => {
    const b = Buffer.from(good);
    const rng = mulberry32(3);
    for (let i = 0; i < 40; i++) b[Math.floor(b.length / 2 + (rng() * b.length) / 2)]! ^= 1 << Math.floor(rng() * 8);
    writeFileSync(f, b);
  });
  add('8k', '7680x4320, 2 frames (above the pixel limit)', '8k.mp4', ['TOO_LARGE'], (f) =>
    ff(f, [...lavfi('color=c=gray:s=7680x4320:r=25'), '-frames:v', '2', ...x264]),
  );
  add('bomb', 'a decompression bomb: 8192x8192 frames (200 MB each as RGB) in a file of a few KiB', 'bomb.mp4', ['TOO_LARGE'], (f) =>
    ff(f, [...lavfi('color=c=black:s=8192x8192:r=25'), '-frames:v', '50', ...x264]),
  );
  add('4k', '3840x2160, 3 real frames (under the limit)', '4k.mp4', ['ok'], (f) =>
    ff(f, [...lavfi(moving(3840, 2160)), '-frames:v', '3', ...x264]),
  );
  add('1x1', '1x1 pixels, 10 frames', 'one.mkv', ['ok', 'TOO_SMALL'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-vf', 'scale=1:1', '-frames:v', '10', '-c:v', 'ffv1', '-pix_fmt', 'yuv444p']),
  );
  add('2x2', '2x2 pixels, 10 frames', 'two.mkv', ['ok', 'TOO_SMALL'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-vf', 'scale=2:2', '-frames:v', '10', '-c:v', 'ffv1', '-pix_fmt', 'yuv444p']),
  );
  add('odd-size', '33x17 pixels', 'odd.mkv', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-vf', 'scale=33:17', '-frames:v', '12', '-c:v', 'ffv1', '-pix_fmt', 'yuv444p']),
  );
  add('hours', '3 hours of 2x2 at 1 fps (above the duration limit)', 'long.mkv', ['TOO_LONG'], (f) =>
    ff(f, [...lavfi('color=c=blue:s=64x48:r=1'), '-vf', 'scale=2:2', '-t', '10800', '-c:v', 'ffv1', '-pix_fmt', 'yuv444p']),
  );
  add('vfr-gaps', 'variable frame rate with a 10 s gap in the timestamps', 'vfr.mkv', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-frames:v', '20', '-vf', "setpts='(N+if(gt(N,9),250,0))/25/TB'", '-fps_mode', 'vfr', '-c:v', 'ffv1']),
  );
  add('negative-ts', 'timestamps starting at -5 s', 'negts.mkv', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-frames:v', '20', '-output_ts_offset', '-5', '-c:v', 'ffv1']),
  );
  // The track header's display matrix [a b u; c d v; x y w] (16.16 fixed point; u, v, w 2.30), written in place.
  const withMatrix = (f: string, abcd: readonly [number, number, number, number]) => {
    const b = Buffer.from(good);
    // version 0 tkhd: size, type, version/flags, 5 x 4 bytes, 8 reserved, 4 x 2 bytes, then the 3x3 matrix
    const m = boxAt(b, 'tkhd') + 48;
    const [a, bb, c, d] = abcd;
    for (const [i, v] of [a, bb, 0, c, d, 0, 0, 0, 0x4000_0000 / 0x10000].entries()) b.writeInt32BE(Math.round(v * 0x10000), m + 4 * i);
    writeFileSync(f, b);
  };
  const rotations: Record<number, [number, number, number, number]> = { 90: [0, 1, -1, 0], 180: [-1, 0, 0, -1], 270: [0, -1, 1, 0] };
  for (const r of [90, 180, 270])
    add(`rotate-${r}`, `display matrix rotated ${r} degrees`, `rot${r}.mp4`, ['ok'], (f) => withMatrix(f, rotations[r]!));
  add('mirrored', 'a mirrored display matrix (a = -1, d = 1)', 'mirror.mp4', ['ok'], (f) => withMatrix(f, [-1, 0, 0, 1]));
  add('10-bit', '10-bit yuv420p10le', 'ten.mkv', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-frames:v', '12', '-c:v', 'ffv1', '-pix_fmt', 'yuv420p10le']),
  );
  add('444', '4:4:4 H.264', 'yuv444.mp4', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-frames:v', '12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv444p']),
  );
  add('interlaced', 'interlaced H.264 (top field first)', 'inter.mp4', ['ok'], (f) =>
    ff(f, [...lavfi(moving(64, 48)), '-frames:v', '12', ...x264, '-flags', '+ildct+ilme', '-field_order', 'tt']),
  );
  add('audio-only', 'an AAC file named .mp4', 'audio.mp4', ['NO_VIDEO_STREAM'], (f) => ff(f, [...lavfi('sine=f=440:d=1'), '-c:a', 'aac']));
  add('subtitles-only', 'a Matroska file with only a subtitle stream', 'subs.mkv', ['NO_VIDEO_STREAM', 'UNREADABLE'], (f) => {
    const srt = join(tmp, 's.srt');
    writeFileSync(srt, '1\n00:00:00,000 --> 00:00:01,000\nhello\n');
    ff(f, ['-i', srt, '-c:s', 'srt']);
  });
  add('still-png', 'a PNG image named .mp4', 'still.mp4', ['UNREADABLE'], (f) => {
    const png = ff(join(tmp, 'still.png'), [...lavfi(moving(64, 48)), '-frames:v', '1']);
    writeFileSync(f, readFileSync(png));
  });
  add('gif', 'an animated GIF', 'anim.gif', ['ok'], (f) => ff(f, [...lavfi(moving(64, 48, 10)), '-frames:v', '10']));
  add('zip-avi', 'a zip archive named .avi', 'archive.avi', ['UNREADABLE'], (f) => {
    const r = spawnSync('/usr/bin/python3', [
      '-c',
      `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('a.txt','x'*1000)\nz.close()`,
      f,
    ]);
    if (r.status !== 0) throw new Error('zip failed');
  });
  add('hls', 'an HLS playlist of a local video and a loopback URL', 'play.m3u8', ['UNREADABLE'], (f) =>
    writeFileSync(f, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${mkv}\n#EXTINF:1,\nhttp://127.0.0.1:${port}/seg.ts\n#EXT-X-ENDLIST\n`),
  );
  add('hls-as-mp4', 'the same HLS playlist named .mp4', 'play.mp4', ['UNREADABLE'], (f) =>
    writeFileSync(f, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:${port}/seg.ts\n#EXT-X-ENDLIST\n`),
  );
  add('sdp', 'an SDP file (RTP from the loopback address)', 'stream.sdp', ['UNREADABLE'], (f) =>
    writeFileSync(f, `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${port} RTP/AVP 96\na=rtpmap:96 H264/90000\n`),
  );
  // A file that grows while it is read: its first 30% now, the rest appended in steps while the command runs.
  const whole = readFileSync(mkv);
  const growing = place('growing', 'grow.mkv');
  kinds.push({
    kind: 'growing',
    what: 'a Matroska file appended to while it is read',
    file: growing,
    expect: ['ok', 'TRUNCATED', 'UNREADABLE'],
    grow: () => {
      let at = Math.floor(whole.length * 0.3);
      writeFileSync(growing, whole.subarray(0, at));
      const step = Math.ceil(whole.length / 20);
      const t = setInterval(() => {
        if (at >= whole.length) return clearInterval(t);
        appendFileSync(growing, whole.subarray(at, at + step));
        at += step;
      }, 50);
      return () => clearInterval(t);
    },
  });
  kinds[kinds.length - 1]!.grow!()(); // a first version on disk
  return kinds;
}
