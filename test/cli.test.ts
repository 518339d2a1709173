// The `i3d` command: --version, doctor, demo, and errors for bad options.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

const BIN = join(ROOT, 'dist/src/cli/main.js');
const i3d = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });

test('i3d --version prints the package version', () => {
  const r = i3d('--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('i3d doctor reports libtorch, threads, CPU features, CUDA and ffmpeg', () => {
  const text = i3d('doctor');
  assert.equal(text.status, 0, text.stderr);
  for (const k of ['libtorch', 'threads', 'cpu features', 'bf16', 'cuda', 'ffmpeg']) assert.match(text.stdout, new RegExp(k));
  const r = i3d('--threads', '1', 'doctor', '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    libtorch: { version: string; threads: number };
    cpu: { features: Record<string, boolean> };
    cuda: { available: boolean };
  };
  assert.match(j.libtorch.version, /^\d+\.\d+\.\d+/);
  assert.equal(j.libtorch.threads, 1, '--threads applies');
  assert.equal(typeof j.cpu.features.avx512_bf16, 'boolean');
  assert.equal(typeof j.cuda.available, 'boolean');
});

test('i3d demo runs the whole job on generated videos: data, training, checkpoints, held-out evaluation, report', () => {
  const out = mkdtempSync(join(tmpdir(), 'i3d-demo-'));
  try {
    const r = i3d('demo', '--json', '--out', out, '--videos', '6', '--test-videos', '2', '--epochs', '2');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
      heldOutAccuracy: number;
      testVideos: number;
      bestEpoch: number;
      report: string;
      model: string;
    };
    assert.equal(j.testVideos, 8);
    assert.ok(j.heldOutAccuracy >= 0 && j.heldOutAccuracy <= 1);
    assert.ok(j.bestEpoch >= 1 && j.bestEpoch <= 2);
    for (const c of ['move_down', 'move_left', 'move_right', 'move_up']) {
      assert.equal(readdirSync(join(out, 'data/train', c)).length, 6, c);
      assert.equal(readdirSync(join(out, 'data/test', c)).length, 2, c);
    }
    const html = readFileSync(j.report, 'utf8');
    assert.match(html, /Confusion matrix/);
    assert.equal((html.match(/<svg/g) ?? []).length, 4, 'loss, accuracy, learning rate, confusion');
    for (const f of ['best/model.safetensors', 'last/optimizer.safetensors', 'log.jsonl', 'classes.txt', 'params.json'])
      assert.ok(existsSync(join(j.model, f)), f);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bad options exit non-zero with a message naming the option', () => {
  const r = i3d('demo', '--epochs', 'many');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--epochs must be a positive integer, got 'many'/);
  const u = i3d('frobnicate');
  assert.notEqual(u.status, 0);
  assert.match(u.stderr, /unknown command 'frobnicate'/);
});
