// Process groups over c10d/Gloo on loopback with two ranks as child processes: collectives, DDP's broadcast and
// bucketed gradient averaging, batch norm per rank against SyncBatchNorm, a killed rank named by the survivor,
// and configuration errors.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { distConfig } from '../src/distributed/config.js';
import { DistributedError } from '../src/distributed/errors.js';
import { ROOT } from './helpers.js';
import { lastJson, startRanks } from './distributed-helpers.js';

const CHILD = join(ROOT, 'dist/test/distributed-child.js');
const run = async (mode: string, env: Record<string, string> = {}) => (await startRanks(2, () => [CHILD, mode], { env })).done;

test('allReduce (sum, avg, max), broadcast from rank 1, allGather and barrier over two ranks', async () => {
  const rs = await run('collectives');
  for (const r of rs) {
    assert.equal(r.status, 0, r.stderr);
    const j = lastJson<Record<string, unknown>>(r);
    assert.deepEqual(j.sum, [3, 2]);
    assert.deepEqual(j.avg, [1.5, 1]);
    assert.deepEqual(j.max, [2, 0]);
    assert.deepEqual(j.broadcast, [10, 11, 12], 'rank 1 values everywhere');
    assert.deepEqual(j.gather, [
      [0, 0],
      [1, 1],
    ]);
    assert.deepEqual(j.numbers, [
      [0, 1],
      [100, 101, 102],
    ]);
    assert.deepEqual(j.together, [3, 5, 7, 9, 11, 13], 'six all-reduces in flight at once, each matched with its own');
    assert.match(String(j.destroyedError), /process group was destroyed/);
  }
});

interface BnResult {
  buckets: number;
  initial: number;
  grads: Record<string, number>;
  runningMean: number;
  runningVar: number;
}

test('DDP: rank 0 weights broadcast; per-rank batch norm (BatchNorm3d and I3D units) differs from one process, SyncBatchNorm matches it', async () => {
  const local = await run('ddp-bn');
  const synced = await run('ddp-bn-sync');
  for (const [a, b] of [local, synced].map((rs) => rs.map((r) => (assert.equal(r.status, 0, r.stderr), lastJson<BnResult>(r))))) {
    assert.ok(a!.buckets > 1, `several buckets with a 16-byte cap (got ${a!.buckets})`);
    assert.equal(a!.initial, 0, 'rank 0 initial weights on every rank');
    assert.deepEqual(a!.grads, b!.grads, 'every rank ends with the same averaged gradients');
  }
  const l = lastJson<BnResult>(local[0]!);
  const s = lastJson<BnResult>(synced[0]!);
  // Batch norm per rank normalises each half with its own statistics: gradients and running statistics differ.
  assert.ok(l.grads['conv.weight']! > 1e-3, `per-rank BN: conv gradient differs (${l.grads['conv.weight']})`);
  assert.ok(l.grads['unit.conv.weight']! > 1e-3, `per-rank BN: the I3D unit's conv gradient differs (${l.grads['unit.conv.weight']})`);
  assert.ok(l.runningVar > 1e-3, `per-rank BN: running variance differs (${l.runningVar})`);
  // SyncBatchNorm: the statistics of the global batch, so the same as one process on all of it.
  // (A conv bias before batch norm has a gradient of about 0 whichever way: only float noise, below 1e-6.)
  for (const [name, rel] of Object.entries(s.grads))
    assert.ok(rel < (name === 'conv.bias' ? 1e-2 : 1e-4), `SyncBatchNorm: ${name} gradient as one process (${rel})`);
  assert.ok(s.runningMean < 1e-5 && s.runningVar < 1e-5, `SyncBatchNorm running statistics (${s.runningMean}, ${s.runningVar})`);
});

test('a killed rank: the other rank fails fast with I3D_DIST_PEER_LOST naming rank 1', async () => {
  const [r0, r1] = await run('die', { TIMEOUT: '20' });
  assert.equal(r1!.signal, 'SIGKILL');
  assert.equal(r0!.status, 0, r0!.stderr);
  const j = lastJson<{ error: string | null; code: string; ms: number }>(r0!);
  assert.equal(j.code, 'I3D_DIST_PEER_LOST');
  assert.match(j.error!, /rank 1 is lost/);
  assert.match(j.error!, /--dist-timeout 20 s/);
  assert.ok(j.ms < 20_000, `within the time-out (${j.ms} ms)`);
});

test('a stopped (hung) rank: the other fails within the time-out, naming rank 1', async () => {
  const ranks = await startRanks(2, () => [CHILD, 'stop'], { env: { TIMEOUT: '4' }, timeoutMs: 30_000 });
  // Rank 1 stops itself after the barrier; rank 0's next collective waits, then gives up.
  const r0 = await new Promise<number | null>((resolve) => ranks.children[0]!.on('exit', (code) => resolve(code)));
  ranks.children[1]!.kill('SIGKILL');
  const [res0] = await ranks.done;
  assert.equal(r0, 0, res0!.stderr);
  const j = lastJson<{ error: string | null; code: string; ms: number }>(res0!);
  assert.equal(j.code, 'I3D_DIST_PEER_LOST');
  assert.match(j.error!, /rank 1 is lost \(no heartbeat in the store/);
  assert.ok(j.ms >= 1000 && j.ms < 4000 + 1000, `gave up after about the time-out of 4 s (${j.ms} ms)`);
});

test('configuration errors name the variable and the accepted values', () => {
  const env = { WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' };
  assert.throws(
    () => distConfig({}, env),
    (e: unknown) =>
      e instanceof DistributedError && e.code === 'I3D_DIST_CONFIG' && /RANK must be an integer in \[0, 1\], got "2"/.test(e.message),
  );
  assert.throws(() => distConfig({}, { ...env, RANK: '0', MASTER_ADDR: '' }), /MASTER_ADDR must name the host of rank 0/);
  assert.throws(
    () => distConfig({}, { ...env, RANK: '0', MASTER_PORT: '70000' }),
    /MASTER_PORT must be an integer in \[1, 65535\], got "70000"/,
  );
  assert.throws(() => distConfig({ timeoutSec: 0 }, { ...env, RANK: '0' }), /--dist-timeout must be a positive number/);
  const c = distConfig({}, { ...env, RANK: '1', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' });
  assert.equal(c.agentStorePrefix, '/worker/attempt_2', "torchrun's agent store, as PyTorch's env:// uses it");
  assert.equal(distConfig({}, { ...env, RANK: '1' }).agentStorePrefix, '');
});
