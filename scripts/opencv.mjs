#!/usr/bin/env node
// Finds OpenCV (with the contrib module `optflow`, for TV-L1 optical flow) for the native build. Used by binding.gyp
// (`node scripts/opencv.mjs includes|ldflags`) and by scripts/build-native.mjs. Order: $OPENCV (an install prefix
// with include/opencv4 and lib), then the system's (Debian's libopencv-contrib-dev: /usr/include/opencv4).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `OpenCV with the contrib module optflow (TV-L1 optical flow) was not found.
  On Debian/Ubuntu:   sudo apt-get install libopencv-contrib-dev
  Or point to an OpenCV >= 4.2 install prefix built with opencv_contrib:   OPENCV=/path/to/prefix npm run build:native
  ($OPENCV must contain include/opencv4/opencv2/optflow.hpp and lib/libopencv_optflow.so)`;

// TV-L1 lives in optflow; its base class in video; the pyramids and warps in imgproc.
const LIBS = ['opencv_optflow', 'opencv_video', 'opencv_imgproc', 'opencv_core'];
const HEADER = 'opencv2/optflow.hpp';

function hasLibs(dir) {
  return LIBS.every((l) => existsSync(join(dir, `lib${l}.so`)));
}

export function findOpenCV() {
  const root = process.env.OPENCV;
  if (root) {
    const inc = join(root, 'include/opencv4');
    const lib = [join(root, 'lib'), join(root, 'lib64'), join(root, 'lib/x86_64-linux-gnu'), join(root, 'lib/aarch64-linux-gnu')].find(
      hasLibs,
    );
    if (!existsSync(join(inc, HEADER)) || !lib) throw new Error(`OPENCV=${root} does not look like an OpenCV with contrib.\n${HELP}`);
    return { include: inc, libdir: lib, libs: LIBS, system: false };
  }
  for (const prefix of ['/usr', '/usr/local']) {
    const inc = join(prefix, 'include/opencv4');
    if (!existsSync(join(inc, HEADER))) continue;
    const lib = ['lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu', 'lib64', 'lib'].map((d) => join(prefix, d)).find(hasLibs);
    if (lib) return { include: inc, libdir: lib, libs: LIBS, system: true };
  }
  throw new Error(HELP);
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  try {
    const o = findOpenCV();
    const what = process.argv[2];
    if (what === 'includes') console.log(o.include);
    else if (what === 'libdir') console.log(o.libdir);
    else if (what === 'ldflags') {
      const rpath = o.system ? '' : ` -Wl,-rpath,${o.libdir}`;
      console.log(`-L${o.libdir}${rpath} ${o.libs.map((l) => `-l${l}`).join(' ')}`);
    } else console.log(JSON.stringify(o, null, 2));
  } catch (e) {
    console.error(`\n${e.message}\n`);
    process.exit(1);
  }
}
