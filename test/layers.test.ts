// The layer rule of `npm run lint` (.dependency-cruiser.cjs): src/ passes it, and it fails on a planted cycle (a dynamic
// import included) and on an import against the layer order.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

const CRUISER = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string) {
  return spawnSync(process.execPath, [CRUISER, 'src', '--config', CONFIG], { cwd, encoding: 'utf8', timeout: 60_000 });
}

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('src/ has no import cycle and no import against the layer order', () => {
  const r = cruise(ROOT);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /no dependency violations found/);
});

test('a planted cycle through a dynamic import fails the rule, naming both modules', () => {
  const root = tree({
    'src/video/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
    'src/video/b.ts': "export const b = async () => (await import('./a.js')).a;\n",
  });
  try {
    const r = cruise(root);
    assert.notEqual(r.status, 0, 'the planted cycle passed');
    assert.match(r.stdout, /error no-cycle: src\/video\/[ab]\.ts/);
    assert.match(r.stdout, /src\/video\/a\.ts[\s\S]*src\/video\/b\.ts|src\/video\/b\.ts[\s\S]*src\/video\/a\.ts/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an import from a lower layer into a higher one fails the rule; the same import downward passes', () => {
  const up = tree({
    'src/video/clip.ts': "import { fit } from '../train/fit.js';\nexport const clip = fit;\n",
    'src/train/fit.ts': 'export const fit = 1;\n',
  });
  const down = tree({
    'src/train/fit.ts': "import { clip } from '../video/clip.js';\nexport const fit = clip;\n",
    'src/video/clip.ts': 'export const clip = 1;\n',
  });
  try {
    const r = cruise(up);
    assert.notEqual(r.status, 0, 'video importing train passed');
    assert.match(r.stdout, /error layer-video: src\/video\/clip\.ts → src\/train\/fit\.ts/);
    const ok = cruise(down);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  } finally {
    rmSync(up, { recursive: true, force: true });
    rmSync(down, { recursive: true, force: true });
  }
});
