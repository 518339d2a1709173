#!/usr/bin/env node
// Finds oneDNN (the fused inference path, native/plan.cc) for the native build. Used by binding.gyp
// (`node scripts/onednn.mjs includes|ldflags`) and by scripts/build-native.mjs. Order: $ONEDNN (an install prefix with
// include/oneapi/dnnl/dnnl.hpp and lib/libdnnl.so), then the system's (Debian's libdnnl-dev). Debian's libtorch uses
// the same libdnnl.so.2.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const INSTALL = `  On Debian/Ubuntu:   sudo apt-get install libdnnl-dev
  Or point to a oneDNN 2.x (>= 2.6) install prefix:   ONEDNN=/path/to/prefix npm run build:native
  ($ONEDNN must contain include/oneapi/dnnl/dnnl.hpp and lib/libdnnl.so)`;
const HELP = `oneDNN was not found.\n${INSTALL}`;
const HEADER = 'oneapi/dnnl/dnnl.hpp';

export function findOneDNN() {
  const root = process.env.ONEDNN;
  const prefixes = root ? [root] : ['/usr', '/usr/local'];
  for (const prefix of prefixes) {
    const inc = join(prefix, 'include');
    if (!existsSync(join(inc, HEADER))) continue;
    const lib = ['lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu', 'lib64', 'lib']
      .map((d) => join(prefix, d))
      .find((d) => existsSync(join(d, 'libdnnl.so')));
    if (!lib) continue;
    // native/plan.cc uses oneDNN 2.x's operation descriptors, which oneDNN 3.0 removed.
    const version = /DNNL_VERSION_MAJOR\s+(\d+)/.exec(readFileSync(join(inc, 'oneapi/dnnl/dnnl_version.h'), 'utf8'))?.[1];
    if (version !== '2')
      throw new Error(`${inc}: oneDNN ${version ?? '(unknown version)'} found, but the fused inference path needs oneDNN 2.x.\n${INSTALL}`);
    return { include: inc, libdir: lib, system: !root };
  }
  throw new Error(root ? `ONEDNN=${root} does not look like a oneDNN install.\n${HELP}` : HELP);
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  try {
    const o = findOneDNN();
    const what = process.argv[2];
    if (what === 'includes') console.log(o.include);
    else if (what === 'ldflags') console.log(`-L${o.libdir}${o.system ? '' : ` -Wl,-rpath,${o.libdir}`} -ldnnl`);
    else console.log(JSON.stringify(o, null, 2));
  } catch (e) {
    console.error(`\n${e.message}\n`);
    process.exit(1);
  }
}
