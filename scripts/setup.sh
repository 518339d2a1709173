#!/usr/bin/env bash
# Installs what the project needs on Debian/Ubuntu, then the npm packages and the native addon.
# Idempotent and quick when everything is already there; `npm test` and `npm run demo` call it first.
set -euo pipefail
cd "$(dirname "$0")/.."

# libtorch-dev: the engine; libgloo-dev: Gloo headers for distributed training (native/dist.cc); libdnnl-dev: oneDNN headers for the fused inference path; libopencv-contrib-dev: TV-L1 optical flow (cv::optflow); ffmpeg: video decoding;
# python3-torch, -h5py, -numpy, -opencv: the references the benchmarks and fixture scripts compare against;
# g++/make/python3: node-gyp's toolchain; chromium: the browser test of the web page of `i3d serve` (driven by playwright-core).
PACKAGES=(libtorch-dev libgloo-dev libdnnl-dev libopencv-contrib-dev ffmpeg python3-torch python3-h5py python3-numpy python3-opencv g++ make python3 chromium)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "setup: need root for: $* (run as root or install sudo)" >&2; exit 1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${missing[*]} and no apt-get here; install libtorch (>= 1.13), OpenCV with contrib and ffmpeg, and set LIBTORCH=/path/to/libtorch (OPENCV=/prefix if not in /usr)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is needed, this is $(node --version)" >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # onnxruntime-node (a dev dependency: the peer in bench/inference) would download CUDA binaries at install on Linux x64;
  # an npm with install-script approval (11.x here) skips its installer (package.json "allowScripts": false), an older one
  # is told to by this variable.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

addon=build/Release/i3d_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp scripts/libtorch.mjs scripts/opencv.mjs scripts/onednn.mjs -newer "$addon" -print -quit)" ]; then
  echo "setup: building the native addon"
  npm run build:native
fi
