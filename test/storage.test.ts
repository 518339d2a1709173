// core/storage.ts, core/lock.ts, core/hash.ts and the caches built on them: atomic writes (a failure mid-write, a
// real ENOSPC included, leaves the previous file and no temporary file), the lock (a live holder is refused and
// named, a dead one's lock is taken over, SIGINT releases it), the cache key (key order does not matter), old
// I3DFLOW flow entries (read and converted), and four processes filling the same flow and feature cache entries at
// once (every entry complete and readable, each computed by one process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { I3DError } from '../src/core/errors.js';
import { canonicalJson, sha256, sha256File, stableKey } from '../src/core/hash.js';
import { lockSync, readLockHolder, tryLock, Lock } from '../src/core/lock.js';
import { isTempName, writeAll, writeFileAtomic, writeFileAtomicWith } from '../src/core/storage.js';
import { cacheKey, readFeatureManifest, readFeatures, type CacheKeyInfo } from '../src/features/extract.js';
import { writeSyntheticActions } from '../src/data/synthetic-actions.js';
import { cachedFlow, flowCacheKey, hashFile, readFlowFile, type FlowArray } from '../src/video/flow-cache.js';
import { readSafetensors } from '../src/weights/safetensors.js';

const CHILD = fileURLToPath(new URL('./storage-child.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'i3d-storage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Files in `d` (recursively) that are temporary files or lock files. */
function leftovers(d: string): string[] {
  return readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => {
    const base = f.split('/').pop()!;
    return isTempName(base) || base.endsWith('.lock') || base.endsWith('.takeover');
  });
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function child(args: string[], onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): { pid: number; done: Promise<Run> } {
  const p = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const line of d.toString().split('\n')) if (line) onLine?.(line, (s) => p.kill(s));
  });
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { pid: p.pid!, done: new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

/** A pid that was a process a moment ago and is gone now. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.on('close', r));
  return p.pid!;
}

test('writeFileAtomic replaces the file whole and leaves no temporary file', () => {
  const f = join(dir, 'atomic', 'a.json');
  writeFileAtomic(f, '{"v":1}\n');
  assert.equal(readFileSync(f, 'utf8'), '{"v":1}\n');
  writeFileAtomic(f, [Buffer.from('{"v":'), '2}\n']);
  assert.equal(readFileSync(f, 'utf8'), '{"v":2}\n');
  assert.deepEqual(leftovers(join(dir, 'atomic')), []);
});

test('a write that fails part-way (a thrown error, a real ENOSPC) leaves the previous file and no temporary file', () => {
  const d = join(dir, 'fail');
  const f = join(d, 'model.bin');
  writeFileAtomic(f, 'the previous contents');
  const boom = new Error('the writer failed');
  assert.throws(
    () =>
      writeFileAtomicWith(f, (fd) => {
        writeAll(fd, 'half of the new');
        throw boom;
      }),
    (e: unknown) => e === boom,
  );
  assert.equal(readFileSync(f, 'utf8'), 'the previous contents');
  // /dev/full answers every write with ENOSPC: the error is I3D_DISK naming the file, the old file stays.
  assert.throws(
    () =>
      writeFileAtomicWith(f, (fd) => {
        writeAll(fd, 'the start');
        const full = openSync('/dev/full', 'w');
        try {
          writeAll(full, Buffer.alloc(4096));
        } finally {
          closeSync(full);
        }
      }),
    (e: unknown) =>
      e instanceof I3DError &&
      e.code === 'I3D_DISK' &&
      e.exitCode === 5 &&
      /model\.bin: cannot write \(ENOSPC: no space left/.test(e.message),
  );
  assert.equal(readFileSync(f, 'utf8'), 'the previous contents');
  // A folder that cannot be written (here: the target's folder is a file).
  writeFileSync(join(d, 'not-a-folder'), '');
  assert.throws(
    () => writeFileAtomic(join(d, 'not-a-folder', 'x.json'), '{}'),
    (e: unknown) => e instanceof I3DError && e.code === 'I3D_DISK',
  );
  assert.deepEqual(leftovers(d), []);
});

test('the cache key does not depend on key order; values do change it', () => {
  const a = { implementation: 'x', params: { alpha: 0.25, warps: 5, nested: { b: [1, 2], a: null } }, sampling: { fps: 25 } };
  const b = { sampling: { fps: 25 }, params: { nested: { a: null, b: [1, 2] }, warps: 5, alpha: 0.25 }, implementation: 'x' };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(stableKey(a), stableKey(b));
  assert.match(stableKey(a), /^[0-9a-f]{64}$/);
  assert.notEqual(stableKey(a), stableKey({ ...a, params: { ...a.params, warps: 3 } }));
  assert.notEqual(stableKey({ v: [1, 2] }), stableKey({ v: [2, 1] }), 'array order matters');
  assert.throws(() => stableKey({ v: Number.NaN }), /NaN is not a finite number/);
  const video = sha256('video bytes');
  assert.equal(flowCacheKey(video, a), flowCacheKey(video, b));
  const info: CacheKeyInfo = {
    format: 1,
    backbone: 'b',
    stream: 'rgb',
    width: 1,
    segments: 2,
    frames: 8,
    size: 32,
    resize: 40,
    fps: 25,
    views: 1,
  };
  const shuffled = Object.fromEntries(Object.entries(info).reverse()) as unknown as CacheKeyInfo;
  assert.equal(cacheKey(shuffled), cacheKey(info));
  assert.notEqual(cacheKey({ ...info, frames: 16 }), cacheKey(info));
});

test('one SHA-256 helper: bytes, strings and files agree; an unreadable file is named', async () => {
  const f = join(dir, 'hash.bin');
  writeFileSync(f, 'abc');
  assert.equal(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(await sha256File(f), sha256(Buffer.from('abc')));
  assert.equal(await hashFile(f), sha256('abc'));
  await assert.rejects(
    sha256File(join(dir, 'missing.bin')),
    (e: unknown) => e instanceof I3DError && /missing\.bin: cannot read the file/.test(e.message),
  );
});

test('the lock: a live holder is refused and named, a dead holder is taken over, SIGINT releases it', async () => {
  const d = join(dir, 'locked-folder');
  const file = join(d, '.lock');
  let held!: () => void;
  const ready = new Promise<void>((r) => (held = r));
  let kill!: (s: NodeJS.Signals) => void;
  const holder = child(['hold', file], (line, k) => {
    if (line === 'held') {
      kill = k;
      held();
    }
  });
  await ready;
  assert.deepEqual({ ...readLockHolder(file), time: '' }, { pid: holder.pid, host: hostname(), time: '', purpose: 'a test holder' });
  assert.throws(
    () => lockSync(file, { what: d }),
    (e: unknown) =>
      e instanceof I3DError &&
      e.code === 'I3D_LOCKED' &&
      e.exitCode === 5 &&
      e.message.startsWith(`${d} is in use by process ${holder.pid} (a test holder, since `),
  );
  const r = tryLock(file);
  assert.ok(!(r instanceof Lock) && r.holder?.pid === holder.pid);
  kill('SIGINT');
  const end = await holder.done;
  assert.equal(end.signal, 'SIGINT', 'the signal still ends the process');
  assert.ok(!existsSync(file), 'the lock was released on SIGINT');

  // A lock file left by a process that is gone (SIGKILL, a crash) is stale: taken over at once.
  const dead = await deadPid();
  writeFileSync(file, JSON.stringify({ pid: dead, host: hostname(), time: new Date().toISOString() }));
  const mine = lockSync(file);
  assert.equal(readLockHolder(file)?.pid, process.pid);
  assert.throws(() => lockSync(file), /is in use by process \d+/, 'a second holder in this process waits too');
  mine.release();
  assert.ok(!existsSync(file));
  assert.deepEqual(leftovers(d), []);
});

// The flow cache's earlier container, as the old writer made it (kept here to test reading old caches).
function oldFlowFile(flow: FlowArray, header: Record<string, unknown>): Buffer {
  const magic = Buffer.from('I3DFLOW\n', 'latin1');
  let json = JSON.stringify({ ...header, shape: flow.shape });
  json += ' '.repeat((4 - ((magic.length + 4 + Buffer.byteLength(json)) % 4)) % 4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(Buffer.byteLength(json));
  return Buffer.concat([magic, len, Buffer.from(json), Buffer.from(flow.data.buffer, flow.data.byteOffset, flow.data.byteLength)]);
}

test('flow cache entries are safetensors with metadata; an old I3DFLOW entry is read and converted', async () => {
  const d = join(dir, 'flow-old');
  mkdirSync(d, { recursive: true });
  const video = join(d, 'video.bin');
  writeFileSync(video, 'video bytes');
  const settings = { implementation: 'opencv-dualtvl1 4.6.0', params: { warps: 5 }, sampling: { fps: 25 } };
  const key = flowCacheKey(sha256('video bytes'), settings);
  const flow = { data: new Float32Array([0.5, -1, 2, 3.25, 4, 5]), shape: [1, 1, 3, 2] };
  writeFileSync(join(d, `${key}.flow`), oldFlowFile(flow, { key, created: '2026-01-01T00:00:00.000Z' }));
  const r = await cachedFlow(video, { ...settings, dir: d }, () => assert.fail('an old entry must be read, not recomputed'));
  assert.equal(r.cached, true);
  assert.deepEqual(r.data, flow.data);
  assert.deepEqual(r.shape, flow.shape);
  assert.equal(r.file, join(d, `${key}.safetensors`));
  assert.ok(!existsSync(join(d, `${key}.flow`)), 'the old entry was converted and removed');
  const st = readSafetensors(r.file);
  assert.deepEqual(st.tensors.get('flow')?.data, flow.data);
  assert.equal(st.metadata.format, 'i3d-flow-cache');
  assert.equal(st.metadata.key, key);
  assert.equal(st.metadata.implementation, 'opencv-dualtvl1 4.6.0');
  assert.deepEqual(JSON.parse(st.metadata.params!), { warps: 5 });
  assert.equal(JSON.parse(st.metadata.video!).sha256, sha256('video bytes'));
  assert.equal(st.metadata.convertedFrom, 'I3DFLOW');
  // An old entry made for another key is not used.
  const other = flowCacheKey(sha256('video bytes'), { ...settings, params: { warps: 3 } });
  writeFileSync(join(d, `${other}.flow`), oldFlowFile(flow, { key: 'not-this-one' }));
  const c = await cachedFlow(video, { ...settings, params: { warps: 3 }, dir: d }, async () => ({
    data: new Float32Array([7, 7]),
    shape: [1, 1, 1, 2],
  }));
  assert.equal(c.cached, false);
  assert.deepEqual((await readFlowFile(c.file, other))?.data, new Float32Array([7, 7]));
  assert.deepEqual(leftovers(d), []);
});

/** Entry i's flow as storage-child.ts computes it. */
function flowOf(i: number): Float32Array {
  const data = new Float32Array(3 * 20 * 24 * 2);
  for (let k = 0; k < data.length; k++) data[k] = Math.sin(k * 0.01 + i);
  return data;
}

test('four processes filling the same flow cache entries at once: each entry computed once, all complete and readable', async () => {
  const d = join(dir, 'flow-4');
  mkdirSync(d, { recursive: true });
  const video = join(d, 'video.bin');
  writeFileSync(video, 'the same video for everyone');
  const log = join(d, 'computed.log');
  writeFileSync(log, '');
  const N = 3;
  const runs = await Promise.all(Array.from({ length: 4 }, () => child(['flow', join(d, 'cache'), video, log, String(N)]).done));
  const got = runs.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as Record<number, { cached: boolean; sha256: string; shape: number[] }>;
  });
  const computed = readFileSync(log, 'utf8').trim().split('\n');
  assert.deepEqual(
    computed.map((l) => Number(l.split(' ')[0])).sort(),
    [0, 1, 2],
    `each entry computed exactly once: ${computed.join('; ')}`,
  );
  const sha = sha256('the same video for everyone');
  for (let i = 0; i < N; i++) {
    const want = flowOf(i);
    const wantSha = sha256(new Uint8Array(want.buffer));
    for (const g of got) assert.deepEqual({ sha256: g[i]!.sha256, shape: g[i]!.shape }, { sha256: wantSha, shape: [3, 20, 24, 2] });
    assert.equal(got.filter((g) => !g[i]!.cached).length, 1, `entry ${i}: one process computed it, three read it`);
    const key = flowCacheKey(sha, { implementation: 'test', params: { entry: i }, sampling: {} });
    assert.deepEqual((await readFlowFile(join(d, 'cache', `${key}.safetensors`), key))?.data, want);
  }
  assert.deepEqual(leftovers(d), []);
});

test('four processes extracting features into the same cache at once: every entry complete and readable, computed once, none lost', async () => {
  const d = join(dir, 'features-4');
  const classes = await writeSyntheticActions(join(d, 'videos'), { perClass: 1, seed: 9, frames: 16, size: 48 });
  const videos = classes.map((c) => join(d, 'videos', c, `${c}_000.avi`));
  const out = join(d, 'cache');
  // Process k gets every video but the k-th, in its own order: the manifest lists all four only if each process's
  // save merges with what the others saved.
  const runs = await Promise.all(
    Array.from({ length: 4 }, (_, k) => {
      const order = [...videos.slice(k + 1), ...videos.slice(0, k)];
      return child(['features', out, ...order]).done;
    }),
  );
  const results = runs.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { dir: string; computed: number; entries: string[] };
  });
  const cache = results[0]!.dir;
  assert.ok(results.every((r) => r.dir === cache && r.entries.length === videos.length - 1));
  assert.equal(
    results.reduce((n, r) => n + r.computed, 0),
    videos.length,
    `each video computed by one process: ${results.map((r) => r.computed).join(', ')}`,
  );
  const manifest = readFeatureManifest(cache)!;
  assert.deepEqual(manifest.videos.map((v) => v.source).sort(), [...videos].sort(), 'the manifest lists every video once');
  for (const e of manifest.videos) {
    const f = readFeatures(cache, e);
    assert.deepEqual(f.shape, [1, 2, manifest.parameters.featureShape[2]]);
    assert.ok(f.data.every(Number.isFinite));
  }
  // The same video's features are the same whoever computed them (content-addressed entries).
  assert.equal(new Set(results.flatMap((r) => r.entries)).size, videos.length);
  assert.deepEqual(leftovers(out), []);
});
