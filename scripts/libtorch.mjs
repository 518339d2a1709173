#!/usr/bin/env node
// Finds libtorch for the native build. Used by binding.gyp (`node scripts/libtorch.mjs includes|libdirs|libs|cflags`)
// and by scripts/build-native.mjs. Order: $LIBTORCH (an unpacked libtorch or a PyTorch install's torch/ folder),
// then Debian's libtorch-dev (/usr/include/torch + /usr/lib/<triplet>).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `libtorch was not found.
  On Debian/Ubuntu:   sudo apt-get install libtorch-dev
  Or point to any libtorch >= 1.13 (CPU or CUDA build):   LIBTORCH=/path/to/libtorch npm run build:native
  ($LIBTORCH must contain include/torch/csrc/api/include and lib/libtorch.so)`;

function debianLibDir() {
  for (const d of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']) {
    if (existsSync(join(d, 'libtorch.so'))) return d;
  }
  return null;
}

export function findLibtorch() {
  const root = process.env.LIBTORCH;
  if (root) {
    const inc = join(root, 'include');
    const lib = join(root, 'lib');
    if (!existsSync(join(inc, 'torch/csrc/api/include/torch/torch.h')) || !existsSync(join(lib, 'libtorch.so'))) {
      throw new Error(`LIBTORCH=${root} does not look like libtorch.\n${HELP}`);
    }
    return describe(inc, lib, root);
  }
  const lib = debianLibDir();
  if (existsSync('/usr/include/torch/csrc/api/include/torch/torch.h') && lib) return describe('/usr/include', lib, null);
  throw new Error(HELP);
}

function describe(inc, lib, root) {
  const files = readdirSync(lib);
  const has = (name) => files.includes(`lib${name}.so`);
  const libs = ['torch', 'torch_cpu', 'c10'];
  const cuda = has('torch_cuda');
  if (cuda) libs.push('torch_cuda', 'c10_cuda');
  // Official libtorch archives exist with the old and the new C++ ABI; their CMake config says which.
  let abi = 1;
  const cfg = root ? join(root, 'share/cmake/Torch/TorchConfig.cmake') : null;
  if (cfg && existsSync(cfg) && /_GLIBCXX_USE_CXX11_ABI=0/.test(readFileSync(cfg, 'utf8'))) abi = 0;
  const nccl = cuda && existsSync(join(inc, 'torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp'));
  return { includes: [inc, join(inc, 'torch/csrc/api/include')], libdir: lib, libs, cuda, nccl, abi };
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  try {
    const t = findLibtorch();
    const what = process.argv[2];
    if (what === 'includes') console.log(t.includes.filter((d) => d !== '/usr/include').join(' '));
    else if (what === 'libdir') console.log(t.libdir);
    // --no-as-needed keeps libtorch_cuda linked even though no symbol of it is referenced directly,
    // so that CUDA kernels register themselves when the addon loads.
    else if (what === 'ldflags')
      console.log(`-L${t.libdir} -Wl,-rpath,${t.libdir} -Wl,--no-as-needed ${t.libs.map((l) => `-l${l}`).join(' ')} -Wl,--as-needed`);
    // c10d (native/dist.cc): Gloo always (its headers: Debian's libgloo-dev); NCCL only in CUDA builds that ship it.
    else if (what === 'defines')
      console.log(
        `_GLIBCXX_USE_CXX11_ABI=${t.abi}${t.cuda ? ' I3D_WITH_CUDA=1' : ''} USE_C10D_GLOO${t.nccl ? ' USE_C10D_NCCL I3D_WITH_NCCL=1' : ''}`,
      );
    else console.log(JSON.stringify(t, null, 2));
  } catch (e) {
    console.error(`\n${e.message}\n`);
    process.exit(1);
  }
}
