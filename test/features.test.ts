// The feature cache on generated videos with a tiny random backbone: features equal the model's own
// segmentFeatures, a re-run computes nothing, a changed parameter gets a new key, an interrupted run resumes with
// the missing videos only, unreadable videos are skipped once, training with a frozen backbone reads the cache
// (backbone bit-identical, head learns, checkpoint loads and evaluates), and `i3d extract` on the command line.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  evaluateFolder,
  extractFeatures,
  I3DLSTM,
  loadBackbone,
  loadClip,
  loadTrainedModel,
  manualSeed,
  noGrad,
  readFeatureManifest,
  readFeatures,
  readNpy,
  readSafetensors,
  scope,
  SYNTHETIC_CLASSES,
  syntheticFrames,
  tensor,
  trainFromParams,
  validateParams,
  writeSyntheticActions,
  writeVideo,
  type ExtractOptions,
} from '../src/index.js';
import { bytesPerFrame, MB } from '../src/inference/memory-budget.js';
import { type CliResult, relErr, runCli } from './helpers.js';

let dir = '';
let data = '';
/** Classes a frozen random backbone can tell apart: the motion videos with one colour channel dimmed (or none). */
let tinted = '';
const CLIP = { segments: 2, frames: 8, size: 32, resize: 40, fps: 25 };
const SMALL = ['--backbone', 'random', '--width', '0.0625', '--segments', '2', '--frames', '8', '--size', '32', '--resize', '40'];

function opts(out: string, over: Partial<ExtractOptions> = {}): ExtractOptions {
  return { out, backbone: 'random', width: 0.0625, seed: 42, ...CLIP, batch: 3, workers: 1, onSkip: () => {}, ...over };
}

function featureMtimes(cacheDir: string): Map<string, number> {
  const f = join(cacheDir, 'features');
  return new Map(readdirSync(f).map((n) => [n, statSync(join(f, n)).mtimeMs]));
}

const i3d = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: dir });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'i3d-features-'));
  data = join(dir, 'data');
  await writeSyntheticActions(data, { perClass: 4, seed: 5, frames: 24 });
  tinted = join(dir, 'tinted');
  for (const [k, c] of ['no_red', 'no_green', 'no_blue', 'full'].entries()) {
    mkdirSync(join(tinted, c), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const frames = syntheticFrames(SYNTHETIC_CLASSES[i]!, 100 + 10 * k + i, 64, 24);
      if (k < 3) for (const f of frames) for (let p = k; p < f.length; p += 3) f[p] = Math.round(f[p]! * 0.2);
      await writeVideo(join(tinted, c, `${c}_${i}.avi`), frames, { width: 64, height: 64 });
    }
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('extracted features equal the backbone segmentFeatures of the same centre clips', async () => {
  const r = await extractFeatures(data, opts(join(dir, 'cache-a')));
  assert.equal(r.entries.length, 16);
  assert.equal(r.computed, 16);
  assert.deepEqual(r.featureShape, [1, 2, 64]);
  const m = readFeatureManifest(r.dir)!;
  assert.deepEqual(m.classes, ['move_down', 'move_left', 'move_right', 'move_up']);
  assert.equal(m.videos.length, 16);
  assert.equal(m.videos[5]!.path, join('move_left', 'move_left_001.avi'));
  assert.equal(m.videos[5]!.label, 1);
  manualSeed(42);
  const model = new I3DLSTM({ classes: 4, backbone: await loadBackbone('random', 'rgb', 0.0625), freezeBackbone: true });
  try {
    let worst = 0;
    for (const e of r.entries) assert.deepEqual(readFeatures(r.dir, e).shape, [1, 2, 64]);
    // One video of each class, decoded again here.
    for (const e of r.entries.filter((_, i) => i % 4 === 1)) {
      const clip = await loadClip(e.source, { ...CLIP, crop: 'center' });
      const direct = scope(() => noGrad(() => model.segmentFeatures(tensor(clip.data, clip.shape)).data() as Float32Array));
      const cached = readFeatures(r.dir, e);
      assert.deepEqual(cached.shape, [1, 2, 64]);
      for (let i = 0; i < direct.length; i++) worst = Math.max(worst, Math.abs(direct[i]! - cached.data[i]!));
    }
    assert.ok(worst <= 1e-5, `max |cached - direct| = ${worst}`);
  } finally {
    model.dispose();
  }
});

test('a full-width backbone goes through the fused inference path: the same features as its eager ops', async () => {
  const videos = readdirSync(join(data, 'move_up'))
    .slice(0, 3)
    .map((n) => join(data, 'move_up', n));
  const r = await extractFeatures(videos, opts(join(dir, 'cache-wide'), { width: 1 }));
  assert.equal(r.computed, 3);
  assert.deepEqual(r.featureShape, [1, 2, 1024]);
  manualSeed(42);
  const model = new I3DLSTM({ classes: 4, backbone: await loadBackbone('random', 'rgb', 1), freezeBackbone: true });
  try {
    for (const e of r.entries) {
      const clip = await loadClip(e.source, { ...CLIP, crop: 'center' });
      const direct = scope(() => noGrad(() => model.segmentFeatures(tensor(clip.data, clip.shape)).data() as Float32Array));
      const cached = readFeatures(r.dir, e).data;
      let num = 0;
      let den = 0;
      for (let i = 0; i < direct.length; i++) {
        num += (direct[i]! - cached[i]!) ** 2;
        den += direct[i]! ** 2;
      }
      assert.ok(Math.sqrt(num / den) <= 1e-5, `${e.path}: relative error ${Math.sqrt(num / den)}`);
    }
  } finally {
    model.dispose();
  }
});

test('a segment longer than the memory budget holds runs in overlapping chunks: the same features as one pass', async () => {
  const video = join(dir, 'long.avi');
  await writeVideo(video, syntheticFrames(SYNTHETIC_CLASSES[0]!, 77, 64, 170), { width: 64, height: 64 });
  const long = { segments: 1, frames: 160 };
  const whole = await extractFeatures([video], opts(join(dir, 'cache-long-whole'), long));
  const chunks: number[] = [];
  // Room for 130 frames of 32x32 on the eager engine (a chunk needs at least 104 here): two chunks of 128 frames.
  const maxMemory = 470 * MB + 130 * bytesPerFrame('eager', 32, 32, 3);
  const chunked = await extractFeatures(
    [video],
    opts(join(dir, 'cache-long-chunked'), { ...long, maxMemory, onChunkProgress: (_, p) => chunks.push(p.totalChunks) }),
  );
  assert.ok(chunks.length > 0 && chunks.every((n) => n === 2), `chunks: ${[...new Set(chunks)].join(', ')}`);
  const a = readFeatures(whole.dir, whole.entries[0]!).data;
  const b = readFeatures(chunked.dir, chunked.entries[0]!).data;
  assert.equal(a.length, 64);
  console.log(`extract, 160 frames in 2 chunks vs one pass: relative error ${relErr(b, a).toExponential(2)}`);
  assert.ok(relErr(b, a) <= 1e-5, `relative error ${relErr(b, a)}`);
  // Too small a budget for exact chunks is an error that names the budget.
  await assert.rejects(
    extractFeatures([video], opts(join(dir, 'cache-long-tiny'), { ...long, maxMemory: 480 * MB })),
    /--max-memory 480 MB is too small for 32x32 frames on the eager engine/,
  );
});

test('a re-run computes nothing, a changed parameter gets a new key, an interrupted run resumes with the rest', async () => {
  const out = join(dir, 'cache-b');
  const first = await extractFeatures(data, opts(out));
  const before = featureMtimes(first.dir);
  const again = await extractFeatures(data, opts(out));
  assert.equal(again.dir, first.dir);
  assert.equal(again.computed, 0);
  assert.equal(again.reused, 16);
  assert.deepEqual(featureMtimes(first.dir), before, 'no feature file rewritten');

  const other = await extractFeatures([join(data, 'move_up', 'move_up_000.avi')], opts(out, { frames: 9 }));
  assert.notEqual(other.key, first.key, 'frames is part of the key');
  const seeded = await extractFeatures([join(data, 'move_up', 'move_up_000.avi')], opts(out, { seed: 43 }));
  assert.notEqual(seeded.key, first.key, "another seed: another 'random' backbone");

  // An interruption after 4 computed videos (an exception from the progress callback stands in for a kill).
  const out2 = join(dir, 'cache-c');
  await assert.rejects(
    extractFeatures(
      data,
      opts(out2, {
        onProgress: (p) => {
          if (p.computed >= 4) throw new Error('interrupted');
        },
      }),
    ),
    /interrupted/,
  );
  const partial = featureMtimes(join(out2, first.key));
  assert.ok(partial.size >= 4 && partial.size < 16, `${partial.size} feature files after the interruption`);
  const resumed = await extractFeatures(data, opts(out2));
  assert.equal(resumed.computed, 16 - partial.size);
  for (const [n, t] of partial) assert.equal(featureMtimes(resumed.dir).get(n), t, `${n} kept`);
  // Deleted feature files are recomputed, and only they.
  for (const e of resumed.entries.slice(0, 3)) rmSync(join(resumed.dir, e.file));
  assert.equal((await extractFeatures(data, opts(out2))).computed, 3);
});

test('unreadable videos are reported once and skipped; extra views keep the centre view first', async () => {
  const bad = join(dir, 'broken.avi');
  writeFileSync(bad, 'not a video at all');
  const good = join(data, 'move_down', 'move_down_000.avi');
  const skips: string[] = [];
  const r = await extractFeatures([good, bad], opts(join(dir, 'cache-d'), { onSkip: (p) => skips.push(p) }));
  assert.deepEqual(skips, [bad]);
  assert.deepEqual([...r.skipped.keys()], [bad]);
  assert.equal(r.entries.length, 1);
  await assert.rejects(extractFeatures([good, join(dir, 'nope.avi')], opts(join(dir, 'cache-d'))), /nope\.avi: no such video file/);

  const one = readFeatures(r.dir, r.entries[0]!);
  const v3 = await extractFeatures([good], opts(join(dir, 'cache-d'), { views: 3 }));
  assert.notEqual(v3.key, r.key);
  const three = readFeatures(v3.dir, v3.entries[0]!);
  assert.deepEqual(three.shape, [3, 2, 64]);
  let worst = 0;
  for (let i = 0; i < one.data.length; i++) worst = Math.max(worst, Math.abs(one.data[i]! - three.data[i]!));
  assert.ok(worst <= 1e-5, 'view 0 is the centre crop');
  const aug = three.data.subarray(2 * 64, 3 * 64);
  assert.ok(
    aug.some((x, i) => Math.abs(x - one.data[i]!) > 1e-4),
    'an augmented view differs from the centre view',
  );
});

test('training with a frozen backbone reads the cache: backbone bit-identical, head learns, checkpoint loads and evaluates', async () => {
  const base = {
    data: tinted,
    backbone: 'random',
    width: 0.0625,
    ...CLIP,
    freeze: true,
    lstm: [16, 8],
    dropout: 0,
    batch: 4,
    lr: [0.1, 0.1, 0.1],
    lrEpochs: [60, 60],
    workers: 1,
    flip: false,
    validationSplit: 0.25,
  };
  const out = join(dir, 'run-cache');
  const seen: { split: string; computed: number; reused: number }[] = [];
  const r = await trainFromParams(validateParams({ ...base, out, epochs: 60 }, 'test'), {
    onFeatures: (f) => seen.push(f),
  });
  assert.deepEqual(
    seen.map((s) => [s.split, s.computed]),
    [
      ['train', 12],
      ['validation', 4],
    ],
  );
  assert.ok(existsSync(join(out, 'features')));
  const losses = r.history.map((h) => h.loss);
  const late = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(late < losses[0]! * 0.85, `the head learns: loss ${losses.map((l) => l.toFixed(3)).join(' ')}`);

  // The checkpoint is a full I3D-LSTM: its backbone is bit for bit the initial random one.
  manualSeed(42);
  const fresh = await loadBackbone('random', 'rgb', 0.0625);
  const saved = readSafetensors(join(out, 'best', 'model.safetensors')).tensors;
  let compared = 0;
  for (const [name, t] of fresh.stateTensors()) {
    const s = saved.get(`backbone.${name}`);
    assert.ok(s, `backbone.${name} saved`);
    assert.deepEqual(
      s.data,
      scope(() => t.data() as Float32Array),
      `backbone.${name} unchanged`,
    );
    compared++;
  }
  fresh.dispose();
  assert.ok(compared > 50);
  const { model, description } = loadTrainedModel(out);
  assert.equal(description.classes, 4);
  model.dispose();
  const ev = await evaluateFolder(out, tinted, { batch: 4, workers: 1 });
  assert.equal(ev.metrics.count, 16);
  console.log(`frozen random backbone, head trained on cached features: top-1 ${ev.metrics.top1} on all 16 tinted videos`);

  // A second run on the same out reuses the cache.
  seen.length = 0;
  await trainFromParams(
    validateParams({ ...base, out: join(dir, 'run-cache-2'), featureCache: join(out, 'features'), epochs: 1 }, 'test'),
    {
      onFeatures: (f) => seen.push(f),
    },
  );
  assert.deepEqual(
    seen.map((s) => s.computed),
    [0, 0],
  );
});

test('i3d extract on a folder writes the manifest and --npy files; a missing input exits 1 naming it', async () => {
  let r = await i3d('extract', 'data', '--out', 'cli-cache', ...SMALL, '--npy', '--workers', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { dir: string; manifest: string; computed: number; featureShape: number[]; videos: { npy: string }[] };
  assert.equal(j.computed, 16);
  assert.deepEqual(j.featureShape, [1, 2, 64]);
  assert.ok(existsSync(join(dir, j.manifest)));
  assert.equal(j.videos.length, 16);
  for (const v of j.videos) assert.deepEqual(readNpy(join(dir, v.npy)).shape, [2, 64]);
  assert.ok(existsSync(join(dir, j.dir, 'npy', 'move_up', 'move_up_003.npy')));

  mkdirSync(join(dir, 'loose'), { recursive: true });
  copyFileSync(join(data, 'move_left', 'move_left_000.avi'), join(dir, 'loose', 'a.avi'));
  r = await i3d(
    'extract',
    'loose/a.avi',
    join(data, 'move_left', 'move_left_000.avi'),
    '--out',
    'cli-cache',
    ...SMALL,
    '--npy',
    '--workers',
    '1',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /2 videos: 0 computed, 2 from the cache/, 'same content, same features');
  assert.match(r.stdout, /wrote .*manifest\.json/);

  r = await i3d('extract', 'loose/a.avi', 'missing.avi', '--out', 'cli-cache', ...SMALL);
  assert.equal(r.status, 3, 'a missing input');
  assert.match(r.stderr, /missing\.avi: no such video file/);
});
