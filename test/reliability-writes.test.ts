// Reliability of what the project writes (issue 15, parts 3-5): processes killed with SIGKILL at random moments,
// a full disk, and several processes writing into one place.
//   - Kills: `i3d train` (half of the kills land while a checkpoint folder is being written), `i3d extract`,
//     `i3d convert`, a zoo download (from a throttled loopback HTTP mirror) and `i3d flow` (a flow cache fill).
//     After every kill each file the run left is checked with the library's readers: a file that is there either
//     loads and equals the uninterrupted run's, or is refused with a named error (I3DError); the rerun (with
//     --resume for training when there is a checkpoint) must complete and give bytes equal to the uninterrupted run's.
//   - Full disk: on a small tmpfs (mounted here when root), ENOSPC in a checkpoint, a flow cache fill and an npy
//     write exits 5 (I3D_DISK) naming the file, and leaves the previous checkpoint / entries / file intact.
//   - Concurrency: three `i3d extract` processes into one cache: every entry computed once, all readable and equal.
// I3D_RELIABILITY_KILLS sets the kills per operation (default 1: the quick subset of the default suite; the full
// campaign, `npm run test:reliability:writes`, uses 50). I3D_RELIABILITY_REPORT names a JSON file for the figures.
import { mulberry32 } from '../src/core/rng.js';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { I3DError } from '../src/core/errors.js';
import { isTempName } from '../src/core/storage.js';
import { writeSyntheticActions, syntheticFrames } from '../src/data/synthetic-actions.js';
import { readFeatureManifest, readFeatures } from '../src/features/extract.js';
import { readNpy } from '../src/io/npy.js';
import { I3D } from '../src/models/i3d.js';
import { findCheckpoint, readCheckpointMeta } from '../src/train/checkpoint.js';
import { writeVideo } from '../src/video/encode.js';
import { readFlowFile } from '../src/video/flow-cache.js';
import { loadModel, saveModel } from '../src/weights/model-folder.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { ZOO } from '../src/weights/zoo.js';
import { BIN, ROOT, TINY_MODEL, TINY_RECIPE } from './helpers.js';

const KILLS = Number(process.env.I3D_RELIABILITY_KILLS ?? 1);
const REPORT = process.env.I3D_RELIABILITY_REPORT;
const CHILD = join(ROOT, 'dist/test/reliability-child.js');
/** Kills in a row before a rerun is left to complete. */
const CHAIN = Number(process.env.I3D_RELIABILITY_CHAIN ?? 1);

// Seeded (mulberry32), so a campaign's kill moments can be replayed.
const random = mulberry32(Number(process.env.I3D_RELIABILITY_SEED ?? 15));

interface Figures {
  /** Processes that were killed (a run that ended before its kill moment is counted apart and retried). */
  kills: number;
  endedBeforeKill: number;
  /** Kills that left a write in progress (a temporary file or folder, a download's .part). */
  midWrite: number;
  rerunsCompleted: number;
  rerunsIdentical: number;
  /** Files found after a kill that loaded and equalled the uninterrupted run's. */
  filesLoaded: number;
  /** Files (or folders) found after a kill that the readers refused with a named error. */
  filesRefused: number;
  /** Files that loaded but were not whole or not equal (must be 0). */
  tornLoaded: number;
  /** Temporary files of killed writers still there after the rerun (harmless: hidden, never read). */
  tempLeft: number;
  referenceSeconds: number;
  campaignSeconds: number;
  /** Downloads: reruns that continued a .part with a Range request. */
  resumedDownloads?: number;
  notes: string[];
}
const figures: Record<string, Figures> = {};
const started = { time: new Date().toISOString(), loadavg: loadavg() };

function newFigures(op: string, referenceSeconds: number): Figures {
  const f: Figures = {
    kills: 0,
    endedBeforeKill: 0,
    midWrite: 0,
    rerunsCompleted: 0,
    rerunsIdentical: 0,
    filesLoaded: 0,
    filesRefused: 0,
    tornLoaded: 0,
    tempLeft: 0,
    referenceSeconds,
    campaignSeconds: 0,
    notes: [],
  };
  figures[op] = f;
  return f;
}

let dir = '';
let server: Server;
let mirror = '';
/** The zoo file the mirror serves: 3 MB of seeded bytes, sent in 64 KiB pieces 10 ms apart (about 0.5 s). */
const BODY = Buffer.from(Uint8Array.from({ length: 3 << 20 }, mulberry32(7)).map((x) => x));
const ZOO_NAME = 'rgb_kinetics_only_no_top';
const rangeStarts: number[] = [];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Starts `node <script> args` with `env` added; `kill` is called with the process once it is started. */
/** Seconds the last run started by start() took (a run that ended before its kill narrows later kill moments). */
let lastRunSeconds = 0;

function start(script: string, args: readonly string[], env: Record<string, string>, onStart?: (p: ReturnType<typeof spawn>) => void) {
  const t0 = performance.now();
  const p = spawn(process.execPath, [script, ...args], { cwd: dir, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  onStart?.(p);
  return new Promise<Run>((resolve) =>
    p.on('close', (code, signal) => {
      lastRunSeconds = (performance.now() - t0) / 1000;
      resolve({ code, signal, stdout, stderr, seconds: lastRunSeconds });
    }),
  );
}

const i3d = (args: readonly string[], env: Record<string, string> = {}) => start(BIN, args, env);

/** Runs and SIGKILLs after `ms` (or when `arm` calls its trigger); resolves with whether the kill landed. */
async function killed(
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  ms: number,
  arm?: (kill: () => void) => () => void,
) {
  let timer: NodeJS.Timeout | undefined;
  let disarm = () => {};
  const r = await start(script, args, env, (p) => {
    const kill = () => p.kill('SIGKILL');
    if (arm) disarm = arm(kill);
    else timer = setTimeout(kill, ms);
  });
  clearTimeout(timer);
  disarm();
  return r.signal === 'SIGKILL';
}

/** Every file under `root` (relative paths), folders included when `dirs`. */
function walk(root: string, dirs = false): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => dirs || e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

const temps = (root: string) => walk(root, true).filter((p) => isTempName(basename(p)) || /\.old-\d+$/.test(basename(p)));
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Counts a reader's verdict on one file: loaded and equal, refused with a named error, or torn (loaded but wrong). */
function verdict(f: Figures, what: string, load: () => boolean): void {
  try {
    if (load()) f.filesLoaded++;
    else {
      f.tornLoaded++;
      f.notes.push(`${what}: loaded but differs from the uninterrupted run's`);
    }
  } catch (e) {
    if (e instanceof I3DError) f.filesRefused++;
    else {
      f.tornLoaded++;
      f.notes.push(`${what}: ${(e as Error).message} (not a named error)`);
    }
  }
}

/** One operation under the campaign: its run (killed after `ms`, or when `arm` fires, or not at all), and its checks. */
interface Target<C> {
  /** A fresh output for a chain of kills. */
  setup: (chain: number) => C;
  /** Starts the operation (or its rerun: --resume when there is a checkpoint); resolves true when the kill landed. */
  attempt: (c: C, kill: { ms: number; arm?: (kill: () => void) => () => void } | null) => Promise<boolean>;
  /** After a kill: the readers' verdict on every file there (verdict()). */
  check: (c: C) => void | Promise<void>;
  /** After a completed run: whether its result equals the uninterrupted run's. */
  same: (c: C) => boolean | Promise<boolean>;
  /** Whether a write was in progress when the kill landed (before check), and the folder to count temporaries in. */
  midWrite: (c: C) => boolean;
  root: (c: C) => string;
  /** How an attempt is killed: default after a random moment of the uninterrupted run's duration. */
  killAt?: (attempt: number, c: C) => { ms: number; arm?: (kill: () => void) => () => void };
}

/** Seconds `node <script>` takes to start and exit (the CLI's --version; the child's unknown mode). */
let startup = { cli: 0, child: 0 };

/** A random kill moment (ms) between most of the start-up and the end of the uninterrupted run. */
function killMoment(f: Figures, child = false): number {
  // Capped at half a run: the start-up was measured once and the machine's load changes.
  const s = Math.min(0.8 * (child ? startup.child : startup.cli), 0.5 * f.referenceSeconds);
  return 1000 * (s + random() * Math.max(0.05, f.referenceSeconds - s));
}

/**
 * Kills `KILLS` runs in chains of up to CHAIN: each kill is followed by a check of what is on disk and a rerun, which
 * is itself killed at a random moment until the chain's last rerun, which must complete and equal the uninterrupted
 * run's result. A rerun that completes before its kill moment is compared too (and counted apart).
 */
async function campaign<C>(f: Figures, t: Target<C>): Promise<void> {
  const t0 = performance.now();
  let attempts = 0;
  for (let chain = 0; f.kills < KILLS; chain++) {
    const c = t.setup(chain);
    let done = false;
    for (let k = 0; k < CHAIN && f.kills < KILLS && !done; k++) {
      const kill = t.killAt?.(attempts, c) ?? { ms: killMoment(f) };
      attempts++;
      if (await t.attempt(c, kill)) {
        f.kills++;
        if (t.midWrite(c)) f.midWrite++;
        await t.check(c);
      } else {
        f.endedBeforeKill++;
        if (k === 0) f.referenceSeconds = Math.min(f.referenceSeconds, lastRunSeconds); // a whole run, not a resumed one
        done = true;
      }
      assert.ok(attempts < 4 * KILLS + 8, `kills keep missing: ${f.endedBeforeKill} runs ended before their kill`);
    }
    if (!done) {
      if (!(await t.attempt(c, null))) {
        f.notes.push(`chain ${chain}: the final rerun failed`);
        continue;
      }
    }
    f.rerunsCompleted++;
    if (await t.same(c)) f.rerunsIdentical++;
    else f.notes.push(`chain ${chain}: the result differs from the uninterrupted run's`);
    f.tempLeft += temps(t.root(c)).length;
    rmSync(t.root(c), { recursive: true, force: true });
  }
  f.campaignSeconds = Math.round((performance.now() - t0) / 100) / 10;
}

function assertCampaign(f: Figures, op: string): void {
  assert.equal(f.tornLoaded, 0, `${op}: ${f.notes.join('; ')}`);
  assert.deepEqual(f.notes, [], op);
  assert.equal(f.kills, KILLS, `${op}: ${f.kills} kills landed of ${KILLS}`);
  assert.equal(f.rerunsIdentical, f.rerunsCompleted, `${op}: ${f.notes.join('; ')}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'i3d-writes-campaign-'));
  await writeSyntheticActions(join(dir, 'data'), { perClass: 2, seed: 3, frames: 16, size: 48 });
  await writeSyntheticActions(join(dir, 'xdata'), { perClass: 1, seed: 4, frames: 16, size: 48 });
  await writeVideo(join(dir, 'flow-a.avi'), syntheticFrames('move_left', 5, 64, 12), { width: 64, height: 64 });
  await writeVideo(join(dir, 'flow-b.avi'), syntheticFrames('move_up', 6, 64, 12), { width: 64, height: 64 });
  server = createServer((req, res) => {
    if (req.url !== `/${ZOO.get(ZOO_NAME)!.fileName}`) return void res.writeHead(404).end();
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    rangeStarts.push(from);
    const headers = { 'content-length': String(BODY.length - from), 'content-type': 'application/octet-stream' };
    if (m) res.writeHead(206, { ...headers, 'content-range': `bytes ${from}-${BODY.length - 1}/${BODY.length}` });
    else res.writeHead(200, headers);
    let at = from;
    const send = () => {
      if (res.destroyed) return;
      if (at >= BODY.length) return void res.end();
      res.write(BODY.subarray(at, (at += 65536)));
      setTimeout(send, 10);
    };
    send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  startup = { cli: (await start(BIN, ['--version'], {})).seconds, child: (await start(CHILD, ['none'], {})).seconds };
});

after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
  if (REPORT)
    writeFileSync(
      REPORT,
      `${JSON.stringify(
        {
          kills: KILLS,
          started,
          ended: { time: new Date().toISOString(), loadavg: loadavg() },
          cpu: { model: cpus()[0]?.model, count: cpus().length },
          figures,
        },
        null,
        2,
      )}\n`,
    );
});

const CACHE = () => ({ I3D_CACHE_DIR: join(dir, 'cache') });
const TRAIN = ['train', '--data', 'data', ...TINY_MODEL];
const TRAIN2 = TINY_RECIPE;
const train = (out: string, epochs: number, ...more: string[]) =>
  i3d([...TRAIN, ...TRAIN2, '--epochs', String(epochs), '--out', out, ...more], CACHE());

/** Runs `args` with `env` to completion (kill null) or kills it; failures of a completed run are noted in `f`. */
async function attemptOf(
  f: Figures,
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  kill: Parameters<Target<unknown>['attempt']>[1],
) {
  if (kill) return killed(script, args, env, kill.ms, kill.arm);
  const r = await start(script, args, env);
  if (r.code !== 0) f.notes.push(`${args.join(' ')}: exited ${r.code}: ${r.stderr}`);
  return r.code === 0;
}

test('i3d train killed at random moments and in checkpoint writes: --resume ends with the same weights; no torn checkpoint loads', async () => {
  const ref1 = await train('ref1', 1);
  assert.equal(ref1.code, 0, ref1.stderr);
  const ref2 = await train('ref2', 2);
  assert.equal(ref2.code, 0, ref2.stderr);
  const f = newFigures('train', ref2.seconds);
  const weightsAt = [null, 'ref1', 'ref2'].map((r) => (r ? readFileSync(join(dir, r, 'last/model.safetensors')) : null));
  const same = (a: string, b: string) => readFileSync(join(dir, a)).equals(readFileSync(join(dir, b)));
  await campaign(f, {
    setup: (chain) => {
      mkdirSync(join(dir, `tk${chain}`));
      return join(dir, `tk${chain}`);
    },
    root: (out) => out,
    attempt: (out, kill) => {
      const resume = findCheckpoint(join(out, 'last')) ? ['--resume'] : [];
      const args = [...TRAIN, ...TRAIN2, '--epochs', '2', '--out', out, ...resume];
      return kill ? killed(BIN, args, CACHE(), kill.ms, kill.arm) : attemptOf(f, BIN, args, CACHE(), null);
    },
    // Even attempts (the first included): killed 0-3 ms after the n-th checkpoint folder of the run (best and last of each epoch) appears.
    killAt: (n, out) => {
      const ms = killMoment(f);
      if (n % 2 === 1) return { ms };
      const nth = 1 + Math.floor(random() * 3);
      const lag = Math.floor(random() * 4);
      return {
        ms,
        arm: (kill) => {
          const seen = new Set<string>();
          const w = watch(out, (_e, name) => {
            if (!name || !/^\.(best|last)\..*\.tmp$/.test(name) || seen.has(name)) return;
            seen.add(name);
            if (seen.size === nth) setTimeout(kill, lag);
          });
          return () => w.close();
        },
      };
    },
    midWrite: (out) => temps(out).length > 0,
    // What a resume would load: each checkpoint findCheckpoint picks must read whole and equal the weights of its epoch.
    check: (out) => {
      for (const name of ['best', 'last']) {
        const cp = findCheckpoint(join(out, name));
        if (!cp) continue;
        verdict(f, cp, () => {
          const meta = readCheckpointMeta(cp);
          readSafetensors(join(cp, 'model.safetensors'));
          if (name === 'last') readSafetensors(join(cp, 'optimizer.safetensors'));
          return readFileSync(join(cp, 'model.safetensors')).equals(weightsAt[meta.trainer.epoch]!);
        });
      }
    },
    same: (out) =>
      ['last/model.safetensors', 'last/optimizer.safetensors', 'best/model.safetensors'].every((p) =>
        same(relative(dir, join(out, p)), join('ref2', p)),
      ),
  });
  assertCampaign(f, 'train');
  assert.ok(KILLS < 10 || f.midWrite > 0, 'some kills landed in a checkpoint write');
});

const EXTRACT = ['extract', 'xdata', '--backbone', 'random', '--width', '0.0625', '--segments', '2', '--frames', '8', '--size', '32'];
const EXTRACT2 = ['--resize', '40', '--npy', '--workers', '1', '--batch', '2', '--json'];
let extractRef: { dir: string; files: Map<string, Buffer>; manifest: string[] } | null = null;

/** The cache folder under `out` (one key) and its files; the manifest as sorted "path sha256 file" lines. */
function extractResult(out: string): { dir: string; files: Map<string, Buffer>; manifest: string[] } {
  const key = readdirSync(out).find((k) => !k.startsWith('.'))!;
  const cache = join(out, key);
  const files = new Map(
    walk(cache)
      .filter((p) => p !== 'manifest.json' && !isTempName(basename(p)) && !p.endsWith('.lock'))
      .map((p) => [p, readFileSync(join(cache, p))]),
  );
  const manifest = readFeatureManifest(cache)!
    .videos.map((v) => `${v.path} ${v.sha256} ${v.file} ${v.npy ?? ''}`)
    .sort();
  return { dir: key, files, manifest };
}

async function extractReference(): Promise<NonNullable<typeof extractRef>> {
  if (extractRef) return extractRef;
  const r = await i3d([...EXTRACT, '--out', 'xref', ...EXTRACT2], CACHE());
  assert.equal(r.code, 0, r.stderr);
  extractRef = extractResult(join(dir, 'xref'));
  assert.equal(extractRef.manifest.length, 4);
  (extractRef as { seconds?: number }).seconds = r.seconds;
  return extractRef;
}

test('i3d extract killed at random moments: the rerun completes the same features and npy files; no torn entry loads', async () => {
  const ref = await extractReference();
  const f = newFigures('extract', (ref as { seconds?: number }).seconds ?? 5);
  await campaign(f, {
    setup: (chain) => join(dir, `xk${chain}`),
    root: (out) => out,
    attempt: (out, kill) => attemptOf(f, BIN, [...EXTRACT, '--out', out, ...EXTRACT2], CACHE(), kill),
    midWrite: (out) => temps(out).length > 0,
    check: (out) => {
      const cache = join(out, ref.dir);
      if (existsSync(join(cache, 'manifest.json')))
        verdict(f, `${cache}/manifest.json`, () => {
          const m = readFeatureManifest(cache)!;
          for (const v of m.videos) readFeatures(cache, v); // every listed entry must be there and whole
          return m.videos.every((v) => ref.manifest.includes(`${v.path} ${v.sha256} ${v.file} ${v.npy ?? ''}`));
        });
      for (const p of walk(cache)) {
        if (isTempName(basename(p)) || p === 'manifest.json' || p.endsWith('.lock')) continue;
        const want = ref.files.get(p);
        if (p.endsWith('.npy'))
          verdict(f, p, () => readNpy(join(cache, p)) !== null && readFileSync(join(cache, p)).equals(want ?? Buffer.alloc(0)));
        else verdict(f, p, () => readFeatures(cache, { file: p }) !== null && readFileSync(join(cache, p)).equals(want ?? Buffer.alloc(0)));
      }
    },
    same: (out) => {
      const got = extractResult(out);
      return (
        got.dir === ref.dir &&
        got.manifest.join('\n') === ref.manifest.join('\n') &&
        got.files.size === ref.files.size &&
        [...ref.files].every(([p, b]) => got.files.get(p)?.equals(b))
      );
    },
  });
  assertCampaign(f, 'extract');
});

test('i3d convert killed at random moments: the rerun writes the same model folder; a half-written folder is refused by name', async () => {
  const input = join(dir, 'cin');
  const model = new I3D({ stream: 'rgb', classes: 10 });
  try {
    saveModel(model, input);
  } finally {
    model.dispose();
  }
  const ref = await i3d(['convert', input, 'cref']);
  assert.equal(ref.code, 0, ref.stderr);
  const want = ['config.json', 'model.safetensors'].map((n) => readFileSync(join(dir, 'cref', n)));
  const f = newFigures('convert', ref.seconds);
  await campaign(f, {
    setup: (chain) => join(dir, `ck${chain}`),
    root: (out) => out,
    attempt: (out, kill) => attemptOf(f, BIN, ['convert', input, out], {}, kill),
    midWrite: (out) => temps(out).length > 0,
    check: (out) => {
      if (!existsSync(out) || !readdirSync(out).some((n) => !isTempName(n))) return;
      verdict(f, out, () => {
        const { model: m } = loadModel(out);
        m.dispose();
        return ['config.json', 'model.safetensors'].every((n, i) => readFileSync(join(out, n)).equals(want[i]!));
      });
    },
    same: (out) => ['config.json', 'model.safetensors'].every((n, i) => readFileSync(join(out, n)).equals(want[i]!)),
  });
  assertCampaign(f, 'convert');
});

test('a zoo download killed at random moments: the rerun resumes the .part and gets the file whole; no torn file is used', async () => {
  const zoo = (cache: string) => ({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: mirror, I3D_OFFLINE: '0' });
  const fileName = ZOO.get(ZOO_NAME)!.fileName;
  const ref = await start(CHILD, ['zoo', ZOO_NAME], zoo(join(dir, 'dref')));
  assert.equal(ref.code, 0, ref.stderr);
  assert.ok(readFileSync(join(dir, 'dref/zoo', fileName)).equals(BODY));
  const f = newFigures('download', ref.seconds);
  let resumed = 0;
  await campaign(f, {
    killAt: () => ({ ms: killMoment(f, true) }),
    setup: (chain) => join(dir, `dk${chain}`),
    root: (cache) => cache,
    attempt: async (cache, kill) => {
      const before = rangeStarts.length;
      const r = await attemptOf(f, CHILD, ['zoo', ZOO_NAME], zoo(cache), kill);
      if (rangeStarts.slice(before).some((s) => s > 0)) resumed++;
      return r;
    },
    midWrite: (cache) => walk(cache).some((p) => p.endsWith('.part')) || temps(cache).length > 0,
    check: (cache) => {
      const file = join(cache, 'zoo', fileName);
      if (existsSync(file)) verdict(f, file, () => readFileSync(file).equals(BODY));
      if (existsSync(`${file}.sha256`)) verdict(f, `${file}.sha256`, () => readFileSync(`${file}.sha256`, 'utf8').trim() === sha(BODY));
    },
    same: (cache) => {
      const file = join(cache, 'zoo', fileName);
      return readFileSync(file).equals(BODY) && readFileSync(`${file}.sha256`, 'utf8').trim() === sha(BODY);
    },
  });
  f.resumedDownloads = resumed;
  assertCampaign(f, 'download');
  assert.ok(!KILLS || resumed > 0 || f.midWrite === 0, 'a kill that left a .part is resumed with a Range request');
});

const FLOW = (video: string, out: string) => [
  'flow',
  video,
  '--out',
  out,
  '--size',
  '64',
  '--crop',
  '56',
  '--max-frames',
  '8',
  '--jobs',
  '1',
];

test('i3d flow killed at random moments: the flow cache entry and the npy are whole or absent, the rerun gives the same', async () => {
  const video = join(dir, 'flow-a.avi');
  const ref = await i3d(FLOW(video, join(dir, 'fref/flow.npy')), { I3D_CACHE_DIR: join(dir, 'fref/cache') });
  assert.equal(ref.code, 0, ref.stderr);
  const refEntries = walk(join(dir, 'fref/cache/flow')).filter((p) => p.endsWith('.safetensors'));
  assert.equal(refEntries.length, 1);
  const entry = refEntries[0]!;
  const key = entry.replace(/\.safetensors$/, '');
  const wantEntry = (await readFlowFile(join(dir, 'fref/cache/flow', entry), key))!;
  const wantNpy = readFileSync(join(dir, 'fref/flow.npy'));
  const f = newFigures('flow', ref.seconds);
  await campaign(f, {
    setup: (chain) => join(dir, `fk${chain}`),
    root: (d) => d,
    attempt: (d, kill) => attemptOf(f, BIN, FLOW(video, join(d, 'flow.npy')), { I3D_CACHE_DIR: join(d, 'cache') }, kill),
    midWrite: (d) => temps(d).length > 0,
    check: async (d) => {
      // The flow cache's reader: a whole entry made for its key, else null (a miss: recomputed and replaced).
      const cache = join(d, 'cache/flow');
      for (const p of walk(cache).filter((q) => q.endsWith('.safetensors') && !isTempName(basename(q)))) {
        const got = await readFlowFile(join(cache, p), p.replace(/\.safetensors$/, ''));
        if (got === null) f.filesRefused++;
        else if (p === entry && bytes(got.data).equals(bytes(wantEntry.data))) f.filesLoaded++;
        else {
          f.tornLoaded++;
          f.notes.push(`${p}: loaded but differs from the uninterrupted run's entry`);
        }
      }
      if (existsSync(join(d, 'flow.npy')))
        verdict(f, 'flow.npy', () => readNpy(join(d, 'flow.npy')) !== null && readFileSync(join(d, 'flow.npy')).equals(wantNpy));
    },
    same: async (d) => {
      const got = await readFlowFile(join(d, 'cache/flow', entry), key);
      return readFileSync(join(d, 'flow.npy')).equals(wantNpy) && got !== null && bytes(got.data).equals(bytes(wantEntry.data));
    },
  });
  assertCampaign(f, 'flow');
});

/** A small tmpfs mounted for the test (root only); null after t.skip naming why when it cannot be had. */
function tmpfs(t: TestContext, mb: number): string | null {
  if (process.getuid?.() !== 0) {
    t.skip('not root: the full-disk cases mount a small tmpfs, which needs root');
    return null;
  }
  const mnt = mkdtempSync(join(tmpdir(), 'i3d-enospc-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(mnt, { recursive: true, force: true });
    t.skip(`mount -t tmpfs failed (${(r.stderr || r.error?.message || '').trim()}): the full-disk cases need it`);
    return null;
  }
  return mnt;
}

function unmount(mnt: string): void {
  const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
  assert.equal(r.status, 0, `umount ${mnt}: ${r.stderr}`);
  rmSync(mnt, { recursive: true, force: true });
}

/** Fills the file system of `mnt` up to `leave` bytes free (a file `filler`). */
function fill(mnt: string, leave: number): void {
  rmSync(join(mnt, 'filler'), { force: true });
  const s = statfsSync(mnt);
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, s.bavail * s.bsize - leave)));
}

test('a full disk (ENOSPC on a tmpfs) in a checkpoint, a flow cache fill and an npy write: exit 5 naming the file; what was there is intact', async (t) => {
  const mnt = tmpfs(t, 48);
  if (!mnt) return;
  try {
    // A checkpoint: epoch 1 fits; the disk fills; the resumed run's epoch-2 checkpoint cannot be written.
    const out = join(mnt, 'run');
    let r = await train(out, 1);
    assert.equal(r.code, 0, r.stderr);
    const before = ['model.safetensors', 'optimizer.safetensors', 'state.json'].map((n) => readFileSync(join(out, 'last', n)));
    fill(mnt, Math.floor(statSync(join(out, 'last/model.safetensors')).size / 2));
    r = await train(out, 2, '--resume');
    assert.equal(r.code, 5, `${r.code}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /run\/(last|best): cannot write the checkpoint \(ENOSPC: no space left on the device, writing \w+\.safetensors\); the previous (last|best) checkpoint is intact/,
    );
    assert.deepEqual(
      ['model.safetensors', 'optimizer.safetensors', 'state.json'].map((n) => readFileSync(join(out, 'last', n))),
      before,
      'the previous checkpoint is intact',
    );
    assert.equal(readCheckpointMeta(findCheckpoint(join(out, 'last'))!).trainer.epoch, 1);
    assert.deepEqual(temps(out), [], 'the half-written checkpoint folder is removed');
    // With space again, the resume completes (and equals the uninterrupted run when the train campaign made one).
    rmSync(join(mnt, 'filler'));
    r = await train(out, 2, '--resume');
    assert.equal(r.code, 0, r.stderr);
    if (existsSync(join(dir, 'ref2')))
      assert.ok(readFileSync(join(out, 'last/model.safetensors')).equals(readFileSync(join(dir, 'ref2/last/model.safetensors'))));
    rmSync(out, { recursive: true });

    // A flow cache fill: the first video's entry fits, the second's does not.
    const cacheEnv = { I3D_CACHE_DIR: join(mnt, 'cache') };
    r = await i3d(FLOW(join(dir, 'flow-a.avi'), join(dir, 'enospc-a.npy')), cacheEnv);
    assert.equal(r.code, 0, r.stderr);
    const flowDir = join(mnt, 'cache/flow');
    const [entry] = readdirSync(flowDir).filter((n) => n.endsWith('.safetensors'));
    const key = entry!.replace(/\.safetensors$/, '');
    const kept = readFileSync(join(flowDir, entry!));
    fill(mnt, Math.floor(kept.length / 2));
    r = await i3d(FLOW(join(dir, 'flow-b.avi'), join(dir, 'enospc-b.npy')), cacheEnv);
    assert.equal(r.code, 5, `${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /cache\/flow\/[0-9a-f]+\.safetensors: cannot write \(ENOSPC: no space left on the device\)/);
    assert.ok(readFileSync(join(flowDir, entry!)).equals(kept), 'the earlier entry is intact');
    assert.ok((await readFlowFile(join(flowDir, entry!), key)) !== null, 'and loads');
    assert.deepEqual(temps(join(mnt, 'cache')), []);
    assert.ok(!existsSync(join(dir, 'enospc-b.npy')));

    // An npy write: the previous file stays whole.
    rmSync(join(mnt, 'filler'));
    const npy = join(mnt, 'flow.npy');
    r = await i3d(FLOW(join(dir, 'flow-a.avi'), npy), CACHE());
    assert.equal(r.code, 0, r.stderr);
    const old = readFileSync(npy);
    fill(mnt, Math.floor(old.length / 2));
    r = await i3d(FLOW(join(dir, 'flow-b.avi'), npy), CACHE());
    assert.equal(r.code, 5, `${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /flow\.npy: cannot write \(ENOSPC: no space left on the device\); any previous flow\.npy is intact/);
    assert.ok(readFileSync(npy).equals(old));
    assert.deepEqual(readNpy(npy).shape, [1, 7, 56, 56, 2]);
    assert.deepEqual(temps(mnt), []);
  } finally {
    unmount(mnt);
  }
});

test('three i3d extract processes into one cache: every entry computed once, all readable and equal to a single run', async () => {
  // (Two `i3d train` into one folder: the second refuses with I3D_LOCKED, in test/train-cli.test.ts; four library
  // processes filling one flow / feature cache, in test/storage.test.ts.)
  const ref = await extractReference();
  const runs = await Promise.all([0, 1, 2].map(() => i3d([...EXTRACT, '--out', 'shared', ...EXTRACT2], CACHE())));
  const computed = runs.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { computed: number }).computed;
  });
  assert.equal(
    computed.reduce((a, b) => a + b, 0),
    4,
    `each of the 4 videos computed by one process: ${computed.join(', ')}`,
  );
  const got = extractResult(join(dir, 'shared'));
  assert.deepEqual(got.manifest, ref.manifest, 'the manifest lists every video once');
  assert.deepEqual([...got.files.keys()].sort(), [...ref.files.keys()].sort());
  for (const [p, b] of ref.files) assert.ok(got.files.get(p)!.equals(b), p);
  for (const e of readFeatureManifest(join(dir, 'shared', got.dir))!.videos) readFeatures(join(dir, 'shared', got.dir), e);
  assert.deepEqual(temps(join(dir, 'shared')), []);
});
