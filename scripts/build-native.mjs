#!/usr/bin/env node
// Builds the native addon with node-gyp against the libtorch that scripts/libtorch.mjs finds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { findLibtorch } from './libtorch.mjs';
import { findOneDNN } from './onednn.mjs';
import { findOpenCV } from './opencv.mjs';

try {
  const t = findLibtorch();
  console.log(`libtorch: ${t.includes[0]} (${t.cuda ? 'CUDA' : 'CPU'} build), libraries in ${t.libdir}`);
  const o = findOpenCV();
  console.log(`OpenCV (TV-L1 optical flow): ${o.include}, libraries in ${o.libdir}`);
  const d = findOneDNN();
  console.log(`oneDNN (fused inference): ${d.include}, libraries in ${d.libdir}`);
} catch (e) {
  console.error(`\n${e.message}\n`);
  process.exit(1);
}

const require = createRequire(import.meta.url);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', '--jobs', 'max'];
// Node's headers: use the system's (Debian nodejs / libnode-dev) rather than downloading them.
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
