// Ownership: scopes free temporaries (also across await), results survive, keep() and dispose() work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, liveTensors, ops, reportedNativeBytes, scope, type Tensor } from '../src/index.js';

test('a scope frees every tensor made inside it except its result', () => {
  const before = liveTensors();
  const r = scope(() => {
    const a = ops.ones([10]);
    const b = a.mul(3);
    b.add(1);
    return b.sum();
  });
  assert.equal(liveTensors(), before + 1);
  assert.equal(r.item(), 30);
  r.dispose();
  assert.equal(liveTensors(), before);
});

test('tensors inside returned arrays, objects and maps survive; nested scopes hand results outwards', () => {
  const before = liveTensors();
  const out = scope(() => {
    const inner = scope(() => ({ a: ops.ones([2]), list: [ops.zeros([3])], m: new Map([['k', ops.full([1], 7)]]) }));
    ops.ones([100]); // garbage
    return inner;
  });
  assert.equal(liveTensors(), before + 3);
  assert.equal(out.m.get('k')!.item(), 7);
  for (const t of [out.a, out.list[0]!, out.m.get('k')!]) t.dispose();
  assert.equal(liveTensors(), before);
});

test('keep() takes a tensor out of its scope; dispose() is idempotent; a disposed tensor gives a clear error', () => {
  const before = liveTensors();
  let kept: Tensor | null = null;
  scope(() => {
    kept = ops.ones([4]).keep();
  });
  assert.equal(liveTensors(), before + 1);
  kept!.dispose();
  kept!.dispose();
  assert.equal(liveTensors(), before);
  assert.equal(kept!.isDisposed, true);
  assert.throws(() => kept!.data(), /tensor was disposed/);
  assert.throws(() => ops.add(kept!, 1), /add: 'a' was disposed/);
});

test('a scope that throws still frees its tensors', () => {
  const before = liveTensors();
  assert.throws(() =>
    scope(() => {
      ops.ones([5]);
      throw new Error('boom');
    }),
  );
  assert.equal(liveTensors(), before);
});

test('async scopes follow the code across await and free on settle; concurrent scopes stay apart', async () => {
  const before = liveTensors();
  const work = (n: number) =>
    scope(async () => {
      const a = ops.full([8], n);
      await new Promise((r) => setTimeout(r, 5 * n));
      const b = await F.conv3d.async(ops.ones([1, 1, 3, 3, 3]), ops.ones([1, 1, 1, 1, 1]));
      ops.ones([3]); // garbage made after await belongs to this scope too
      return a.add(b.sum());
    });
  const [x, y] = await Promise.all([work(1), work(2)]);
  assert.equal(liveTensors(), before + 2);
  assert.deepEqual(x.toArray().slice(0, 1), [28]);
  assert.deepEqual(y.toArray().slice(0, 1), [29]);
  x.dispose();
  y.dispose();
  assert.equal(liveTensors(), before);
});

test('an async scope that rejects frees its tensors and passes the error on', async () => {
  const before = liveTensors();
  await assert.rejects(
    scope(async () => {
      ops.ones([5]);
      await ops.matmul.async(ops.ones([2, 3]), ops.ones([2, 3]));
    }),
    /mat1 and mat2 shapes cannot be multiplied/,
  );
  assert.equal(liveTensors(), before);
});

test('native bytes are reported to V8 and released on dispose', () => {
  const before = reportedNativeBytes();
  const t = ops.zeros([4, 1024, 1024]); // 16 MiB of float32
  try {
    assert.equal(reportedNativeBytes() - before, 16 * 2 ** 20);
  } finally {
    t.dispose();
  }
  assert.equal(reportedNativeBytes(), before);
});

test('a tensor that was never disposed is freed after garbage collection (the backstop)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = liveTensors();
  (() => {
    for (let i = 0; i < 20; i++) ops.ones([16]);
  })();
  assert.equal(liveTensors(), before + 20);
  for (let i = 0; i < 10 && liveTensors() > before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(liveTensors(), before);
});
