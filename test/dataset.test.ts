// Datasets: the seed's folder layout, UCF101-style split lists, the stratified seeded split, the class index,
// and `i3d dataset inspect` on the real .mkv files (linked into a temporary folder) plus broken files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import {
  DatasetError,
  inspectDataset,
  readClassInd,
  readClassIndex,
  readSplitList,
  scanFolder,
  stratifiedSplit,
  writeClassIndex,
  type Sample,
} from '../src/data/dataset.js';
import { ROOT } from './helpers.js';
import { ASL, assertNoFfmpegLeft, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-ds-');
after(tmp.remove);
afterEach(assertNoFfmpegLeft);
const root = join(tmp.dir, 'data');

// data/greet: again, bird, book; data/food: eat, hungry, broken.avi (random bytes), empty.mp4 (0 bytes);
// plus files that are not videos and a hidden one.
mkdirSync(join(root, 'greet'), { recursive: true });
mkdirSync(join(root, 'food/more'), { recursive: true });
mkdirSync(join(root, '.cache'));
for (const i of [0, 1, 2]) symlinkSync(ASL[i]!, join(root, 'greet', `${['again', 'bird', 'book'][i]}.mkv`));
symlinkSync(ASL[4]!, join(root, 'food/eat.mkv'));
symlinkSync(ASL[6]!, join(root, 'food/more/hungry.MKV'));
writeFileSync(join(root, 'food/broken.avi'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
writeFileSync(join(root, 'food/empty.mp4'), '');
writeFileSync(join(root, 'food/notes.txt'), 'not a video');
writeFileSync(join(root, 'greet/.hidden.mp4'), 'hidden');

test('scanFolder: classes sorted by name, videos found by extension (sub-folders too), other files ignored', () => {
  const ds = scanFolder(root);
  assert.deepEqual(ds.classes, ['food', 'greet']);
  assert.deepEqual(
    ds.samples.map((s) => [s.path.slice(root.length + 1), s.label, s.className]),
    [
      ['food/broken.avi', 0, 'food'],
      ['food/eat.mkv', 0, 'food'],
      ['food/empty.mp4', 0, 'food'],
      ['food/more/hungry.MKV', 0, 'food'],
      ['greet/again.mkv', 1, 'greet'],
      ['greet/bird.mkv', 1, 'greet'],
      ['greet/book.mkv', 1, 'greet'],
    ],
  );
  assert.throws(
    () => scanFolder(join(tmp.dir, 'nope')),
    (e: unknown) => e instanceof DatasetError && /nope: no such dataset folder/.test(e.message),
  );
  mkdirSync(join(tmp.dir, 'flat'));
  assert.throws(() => scanFolder(join(tmp.dir, 'flat')), /flat: no class folders \(expected .*flat\/<class>\/<video>\)/);
});

test('stratifiedSplit: per-class proportions, seeded, disjoint and complete', () => {
  const samples: Sample[] = [];
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < [10, 5, 2][c]!; i++) samples.push({ path: `c${c}/v${i}.avi`, label: c, className: `c${c}` });
  const a = stratifiedSplit(samples, { validation: 0.2, seed: 1 });
  const count = (xs: Sample[], c: number) => xs.filter((s) => s.label === c).length;
  assert.deepEqual(
    [0, 1, 2].map((c) => count(a.validation, c)),
    [2, 1, 1],
    'round(n * 0.2), at least 1 per class of 2 or more',
  );
  assert.equal(a.train.length + a.validation.length, samples.length);
  assert.deepEqual([...a.train, ...a.validation].map((s) => s.path).sort(), samples.map((s) => s.path).sort());
  assert.deepEqual(stratifiedSplit(samples, { validation: 0.2, seed: 1 }), a, 'same seed, same split');
  const others = [2, 3, 4, 5, 6].map((seed) =>
    stratifiedSplit(samples, { validation: 0.2, seed })
      .validation.map((s) => s.path)
      .join(),
  );
  assert.ok(
    others.some((v) => v !== a.validation.map((s) => s.path).join()),
    'other seeds, other splits',
  );
  assert.deepEqual(stratifiedSplit(samples, { validation: 0 }).validation, []);
  assert.throws(() => stratifiedSplit(samples, { validation: 1 }), /'validation' must be in \[0, 1\), got 1/);
});

test('split lists (UCF101 trainlist/testlist + classInd) and the class index file', () => {
  const ind = join(tmp.dir, 'classInd.txt');
  writeFileSync(ind, '1 greet\n2 food\n');
  const train = join(tmp.dir, 'trainlist01.txt');
  writeFileSync(train, 'greet/again.mkv 1\r\ngreet/bird.mkv 1\nfood/eat.mkv 2\n\n');
  const test_ = join(tmp.dir, 'testlist01.txt');
  writeFileSync(test_, 'greet/book.mkv\nfood/more/hungry.MKV\n');
  const classes = readClassInd(ind);
  assert.deepEqual(classes, ['greet', 'food']);
  const tr = readSplitList(train, root, classes);
  assert.deepEqual(
    tr.samples.map((s) => [s.path, s.label]),
    [
      [join(root, 'greet/again.mkv'), 0],
      [join(root, 'greet/bird.mkv'), 0],
      [join(root, 'food/eat.mkv'), 1],
    ],
  );
  assert.deepEqual(
    readSplitList(test_, root, classes).samples.map((s) => s.label),
    [0, 1],
  );
  assert.deepEqual(readSplitList(test_, root).classes, ['food', 'greet'], 'without classInd: sorted names');
  writeFileSync(train, 'greet/again.mkv 2\n');
  assert.throws(() => readSplitList(train, root, classes), /trainlist01\.txt:1: label 2 for "greet", the class index says 1/);
  writeFileSync(train, 'greet/missing.mkv\n');
  assert.throws(() => readSplitList(train, root, classes), /trainlist01\.txt:1: .*greet\/missing\.mkv does not exist/);
  writeFileSync(train, 'dance/x.mkv\n');
  assert.throws(() => readSplitList(train, root, classes), /trainlist01\.txt:1: class "dance" is not in the class index/);
  const idx = join(tmp.dir, 'classes.txt');
  writeClassIndex(idx, classes);
  assert.equal(readFileSync(idx, 'utf8'), 'greet\nfood\n');
  assert.deepEqual(readClassIndex(idx), classes);
});

test('inspectDataset decodes every video: frames and durations, and unreadable files with their reason', async () => {
  const ds = scanFolder(root);
  const reports = await inspectDataset(ds, { jobs: 2 });
  const by = new Map(reports.map((r) => [r.path.slice(root.length + 1), r]));
  assert.equal(by.get('food/broken.avi')!.errorCode, 'I3D_VIDEO_UNREADABLE');
  assert.match(by.get('food/broken.avi')!.error!, /broken\.avi: ffmpeg cannot read it/);
  assert.equal(by.get('food/empty.mp4')!.errorCode, 'I3D_VIDEO_EMPTY');
  const again = by.get('greet/again.mkv')!;
  assert.deepEqual([again.frames, again.durationSec, again.width, again.height, again.codec], [64, 64 / 25, 640, 480, 'h264']);
  assert.equal(reports.filter((r) => r.error).length, 2);
});

test('i3d dataset inspect prints classes, counts, durations and the unreadable files; --json; exit 3 on a missing folder', () => {
  const bin = join(ROOT, 'dist/src/cli/main.js');
  const r = spawnSync(process.execPath, [bin, 'dataset', 'inspect', root], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /: 2 classes, 7 videos, 2 unreadable/);
  assert.match(r.stdout, /^food\s+4\s+2\s+/m);
  assert.match(r.stdout, /^greet\s+3\s+3\s+/m);
  assert.match(r.stdout, /food\/broken\.avi: I3D_VIDEO_UNREADABLE: ffmpeg cannot read it: Invalid data found when processing input/);
  assert.match(r.stdout, /food\/empty\.mp4: I3D_VIDEO_EMPTY: the file is empty \(0 bytes\)/);
  const j = spawnSync(process.execPath, [bin, 'dataset', 'inspect', root, '--json'], { encoding: 'utf8', timeout: 120_000 });
  const report = JSON.parse(j.stdout) as {
    classes: { name: string; videos: number; readable: number; totalSec: number }[];
    unreadable: { code: string }[];
  };
  assert.deepEqual(
    report.classes.map((c) => [c.name, c.videos, c.readable]),
    [
      ['food', 4, 2],
      ['greet', 3, 3],
    ],
  );
  assert.deepEqual(report.unreadable.map((u) => u.code).sort(), ['I3D_VIDEO_EMPTY', 'I3D_VIDEO_UNREADABLE']);
  const missing = spawnSync(process.execPath, [bin, 'dataset', 'inspect', join(tmp.dir, 'nope')], { encoding: 'utf8' });
  assert.equal(missing.status, 3, 'a bad input folder');
  assert.match(missing.stderr, /^i3d: .*nope: no such dataset folder/);
});
