// scripts/libtorch.mjs: how the native build finds libtorch, and its message when there is none.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

const findOpenCV = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts/opencv.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test("OpenCV with contrib (TV-L1 flow): Debian's by default, $OPENCV when set, one message saying what to install otherwise", () => {
  const sys = findOpenCV({}, 'ldflags');
  assert.equal(sys.status, 0, sys.stderr);
  assert.match(sys.stdout, /-lopencv_optflow -lopencv_video -lopencv_imgproc -lopencv_core/);
  assert.match(findOpenCV({}, 'includes').stdout.trim(), /include\/opencv4$/);
  const root = mkdtempSync(join(tmpdir(), 'opencv-'));
  try {
    mkdirSync(join(root, 'include/opencv4/opencv2'), { recursive: true });
    writeFileSync(join(root, 'include/opencv4/opencv2/optflow.hpp'), '');
    mkdirSync(join(root, 'lib64'));
    for (const l of ['optflow', 'video', 'imgproc', 'core']) writeFileSync(join(root, `lib64/libopencv_${l}.so`), '');
    const ld = findOpenCV({ OPENCV: root }, 'ldflags');
    assert.equal(ld.status, 0, ld.stderr);
    assert.match(ld.stdout, new RegExp(`^-L${join(root, 'lib64')} -Wl,-rpath,${join(root, 'lib64')} -lopencv_optflow`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const bad = findOpenCV({ OPENCV: '/nonexistent/opencv' }, 'ldflags');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /OPENCV=\/nonexistent\/opencv does not look like an OpenCV with contrib/);
  assert.match(bad.stderr, /sudo apt-get install libopencv-contrib-dev/);
});

const findOneDNN = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts/onednn.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test("oneDNN 2.x (fused inference): Debian's by default, $ONEDNN when set, 3.x refused, one message saying what to install", () => {
  const sys = findOneDNN({}, 'ldflags');
  assert.equal(sys.status, 0, sys.stderr);
  assert.match(sys.stdout, /-ldnnl$/m);
  const fake = (major: number) => {
    const root = mkdtempSync(join(tmpdir(), 'onednn-'));
    mkdirSync(join(root, 'include/oneapi/dnnl'), { recursive: true });
    writeFileSync(join(root, 'include/oneapi/dnnl/dnnl.hpp'), '');
    writeFileSync(join(root, 'include/oneapi/dnnl/dnnl_version.h'), `#define DNNL_VERSION_MAJOR ${major}\n`);
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib/libdnnl.so'), '');
    return root;
  };
  const v2 = fake(2);
  const v3 = fake(3);
  try {
    const ld = findOneDNN({ ONEDNN: v2 }, 'ldflags');
    assert.equal(ld.status, 0, ld.stderr);
    assert.equal(ld.stdout.trim(), `-L${join(v2, 'lib')} -Wl,-rpath,${join(v2, 'lib')} -ldnnl`);
    const three = findOneDNN({ ONEDNN: v3 }, 'ldflags');
    assert.equal(three.status, 1);
    assert.match(three.stderr, /oneDNN 3 found, but the fused inference path needs oneDNN 2\.x/);
  } finally {
    rmSync(v2, { recursive: true, force: true });
    rmSync(v3, { recursive: true, force: true });
  }
  const bad = findOneDNN({ ONEDNN: '/nonexistent/dnnl' }, 'ldflags');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ONEDNN=\/nonexistent\/dnnl does not look like a oneDNN install/);
  assert.match(bad.stderr, /sudo apt-get install libdnnl-dev/);
});

test('npm runs i3d without a warning about the project config, and onnxruntime-node never runs its installer (CUDA download)', () => {
  // The first `npm exec` in a fresh clone installs the project into npm's npx cache, which runs its install script (the
  // native build's check): minutes on a loaded 2-core machine.
  const r = spawnSync('npm', ['exec', '--offline', '--', 'i3d', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown project config/);
  assert.doesNotMatch(r.stderr, /npm warn/i, r.stderr);
  // An npm with install-script approval skips dependencies' scripts not allowed here; scripts/setup.sh also sets ONNXRUNTIME_NODE_INSTALL=skip
  // for older npm. The CPU build onnxruntime-node ships in its package is all the benchmarks use.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  assert.match(readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
});
