// scripts/libtorch.mjs: how the native build finds libtorch, and its message when there is none.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

const locate = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts/libtorch.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('LIBTORCH pointing at a libtorch folder (CUDA build, old C++ ABI) gives its paths, CUDA libraries and ABI', () => {
  const root = mkdtempSync(join(tmpdir(), 'libtorch-'));
  try {
    mkdirSync(join(root, 'include/torch/csrc/api/include/torch'), { recursive: true });
    writeFileSync(join(root, 'include/torch/csrc/api/include/torch/torch.h'), '');
    mkdirSync(join(root, 'lib'));
    for (const l of ['torch', 'torch_cpu', 'c10', 'torch_cuda', 'c10_cuda']) writeFileSync(join(root, `lib/lib${l}.so`), '');
    mkdirSync(join(root, 'share/cmake/Torch'), { recursive: true });
    writeFileSync(join(root, 'share/cmake/Torch/TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")');
    const ld = locate({ LIBTORCH: root }, 'ldflags');
    assert.equal(ld.status, 0, ld.stderr);
    assert.match(ld.stdout, new RegExp(`-L${join(root, 'lib')} .*-ltorch_cuda -lc10_cuda`));
    assert.match(locate({ LIBTORCH: root }, 'defines').stdout, /_GLIBCXX_USE_CXX11_ABI=0 I3D_WITH_CUDA=1/);
    assert.match(locate({ LIBTORCH: root }, 'includes').stdout, new RegExp(join(root, 'include/torch/csrc/api/include')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a LIBTORCH that is not libtorch fails with one message saying what to install', () => {
  const r = locate({ LIBTORCH: '/nonexistent/libtorch' }, 'ldflags');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /LIBTORCH=\/nonexistent\/libtorch does not look like libtorch/);
  assert.match(r.stderr, /sudo apt-get install libtorch-dev/);
});

test("by default Debian's libtorch-dev is found", () => {
  const r = locate({}, 'libdir');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^\/usr\/lib/);
});
