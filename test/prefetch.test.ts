// prefetch (src/inference/prefetch.ts): reading the next video's frames ahead of the model, bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefetch } from '../src/inference/prefetch.js';

const tick = () => new Promise((r) => setImmediate(r));

test('prefetch: starts reading at once, keeps at most max items ahead, yields them in order', async () => {
  let pulled = 0;
  async function* source() {
    for (let i = 0; i < 10; i++) {
      pulled++;
      yield i;
    }
  }
  const p = prefetch(source(), 3);
  for (let i = 0; i < 5; i++) await tick();
  // Before anyone reads, the pump has filled the queue to `max` and waits for room.
  assert.equal(pulled, 3);
  const got: number[] = [];
  for await (const v of p) got.push(v);
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('prefetch: a failing source fails the reader after the items before it; close() ends the source early', async () => {
  async function* failing() {
    yield 1;
    yield 2;
    throw new Error('x.mp4: decoding failed');
  }
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const v of prefetch(failing(), 8)) got.push(v);
  }, /x\.mp4: decoding failed/);
  assert.deepEqual(got, [1, 2]);

  let finished = false;
  async function* endless() {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      finished = true;
    }
  }
  const p = prefetch(endless(), 2);
  await tick();
  await p.close();
  assert.ok(finished, 'the source was closed');
  // A plain iterable works too.
  const arr: string[] = [];
  for await (const v of prefetch(['a', 'b'], 1)) arr.push(v);
  assert.deepEqual(arr, ['a', 'b']);
});
