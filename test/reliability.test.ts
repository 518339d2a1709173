// The quick subset of the reliability campaign (issue 15; the whole one: npm run test:reliability): a few hostile
// inputs through `i3d preprocess` and `i3d predict`, and 100 mutations of every weight and data format (40 of HDF5) through its
// reader. Each must end in a valid result or a named error naming the file, with no crash, hang, leftover ffmpeg or
// connection.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runVideoCases, fuzzChild } from './hostile/campaign.js';
import { listener } from './hostile/cli-cases.js';
import { makeCorpus, type Kind } from './hostile/corpus.js';
import { FORMATS } from './hostile/fuzz.js';

let root: string;
let net: Awaited<ReturnType<typeof listener>>;
let kinds: Kind[];

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'i3d-reliability-'));
  net = await listener();
  kinds = makeCorpus(root, net.port, true);
});

after(async () => {
  await net.close();
  rmSync(root, { recursive: true, force: true });
});

test('hostile videos (empty, random, text, truncated, no moov, a directory, a FIFO, /dev/zero, ffconcat, valid): documented outcomes', async () => {
  assert.ok(kinds.length >= 10);
  const outcomes = await runVideoCases(kinds, root, ['preprocess'], 2);
  outcomes.push(
    ...(await runVideoCases(
      kinds.filter((k) => ['fifo', 'ffconcat', 'ok'].includes(k.kind)),
      root,
      ['predict'],
      2,
    )),
  );
  for (const o of outcomes) {
    assert.ok(o.pass, `${o.kind} / ${o.command}: ${o.outcome} ${o.why} ${o.message}`);
    assert.equal(o.leftovers, 0, `${o.kind} / ${o.command}: processes left behind`);
    assert.ok(o.ms < 120_000, `${o.kind} / ${o.command}: ${o.ms} ms`);
  }
  // a bad file fails, a good one succeeds: the runner does tell them apart
  assert.match(outcomes.find((o) => o.kind === 'fifo' && o.command === 'preprocess')!.outcome, /^error [1-9]/);
  assert.equal(outcomes.find((o) => o.kind === 'ok' && o.command === 'preprocess')!.outcome, 'ok');
  assert.equal(net.connections(), 0, 'a connection reached the loopback listener');
});

test('100 mutations of every weight and data format (40 of HDF5): named errors only, no crash or hang', async () => {
  const dir = join(root, '.fuzz');
  mkdirSync(dir);
  for (const f of FORMATS) {
    // Each HDF5 mutation is first read in a fresh worker thread (h5-check.ts: 0.3 s here), so that format gets 40.
    const count = f === 'keras-h5' ? 40 : 100;
    const r = await fuzzChild(f, count, 7, dir, 120_000);
    assert.ok(r.summary, `${f}: ${r.crash}`);
    assert.equal(r.summary.tried, count);
    assert.deepEqual(r.summary.defects, [], `${f}: errors that are not named`);
    assert.ok(r.summary.named > 0, `${f}: no mutation was refused`);
  }
});
