// The `i3d` command: --version, doctor, demo, and errors for bad options.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

test('i3d demo trains the tiny model end to end and it learns motion', () => {
  const r = i3d('demo', '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { firstLoss: number; lastLoss: number; heldOutAccuracy: number };
  assert.ok(j.lastLoss < j.firstLoss / 2, `loss ${j.firstLoss} -> ${j.lastLoss}`);
  assert.ok(j.heldOutAccuracy >= 0.9, `held-out accuracy ${j.heldOutAccuracy}`);
});

test('bad options exit non-zero with a message naming the option', () => {
  const r = i3d('demo', '--steps', 'many');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--steps must be a positive integer, got 'many'/);
  const u = i3d('frobnicate');
  assert.notEqual(u.status, 0);
  assert.match(u.stderr, /unknown command 'frobnicate'/);
});
