// DistributedSampler's sharing: every sample once per epoch (padding by repetition to equal shares in training,
// none in evaluation), for dataset sizes that do not divide by the world size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, mulberry32, shuffle } from '../src/core/rng.js';
import { shardOrder, shardSize } from '../src/distributed/sampler.js';

test('training shares: equal length, together every sample, the padding repeats the start of the order', () => {
  for (let n = 1; n <= 23; n++)
    for (let world = 1; world <= 5; world++) {
      const order = shuffle(
        Array.from({ length: n }, (_, i) => i),
        mulberry32(deriveSeed(9, n, world)),
      );
      const shares = Array.from({ length: world }, (_, rank) => shardOrder(order, { rank, worldSize: world }));
      const len = Math.ceil(n / world);
      for (const [rank, s] of shares.entries()) {
        assert.equal(s.length, len, `n=${n} world=${world} rank=${rank}`);
        assert.equal(shardSize(n, { rank, worldSize: world }), len);
      }
      const counts = new Map<number, number>();
      for (const s of shares) for (const i of s) counts.set(i, (counts.get(i) ?? 0) + 1);
      assert.equal(counts.size, n, `every sample at least once (n=${n}, world=${world})`);
      const padding = len * world - n;
      const extra = [...counts.values()].reduce((a, c) => a + c - 1, 0);
      assert.equal(extra, padding, 'only the padding repeats');
      // The padding repeats the order from its start (round and round when it is shorter than the padding).
      const pad = Array.from({ length: padding }, (_, i) => order[i % n]!);
      for (const [i, c] of counts) assert.equal(c - 1, pad.filter((x) => x === i).length, `sample ${i} (n=${n}, world=${world})`);
      // Global step k of world ranks x batch b = samples [k*b*world, (k+1)*b*world) of the padded order.
      const padded = [...order, ...pad];
      for (let k = 0; k < len; k++)
        assert.deepEqual(
          shares.map((s) => s[k]),
          padded.slice(k * world, (k + 1) * world),
        );
    }
});

test('evaluation shares: no padding, every sample exactly once', () => {
  for (let n = 0; n <= 23; n++)
    for (let world = 1; world <= 5; world++) {
      const order = Array.from({ length: n }, (_, i) => i);
      const all = Array.from({ length: world }, (_, rank) => {
        const s = shardOrder(order, { rank, worldSize: world }, false);
        assert.equal(s.length, shardSize(n, { rank, worldSize: world }, false));
        return s;
      }).flat();
      assert.deepEqual(
        all.sort((a, b) => a - b),
        order,
        `n=${n} world=${world}`,
      );
    }
});

test('bad ranks and world sizes are named', () => {
  assert.throws(() => shardOrder([1, 2], { rank: 2, worldSize: 2 }), /'rank' must be an integer in \[0, 2\), got 2/);
  assert.throws(() => shardOrder([1, 2], { rank: 0, worldSize: 0 }), /'worldSize' must be a positive integer, got 0/);
});
