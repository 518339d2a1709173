// Child process of test/isa.test.ts: runs the fused and eager inference paths on the parity fixtures under whatever
// ONEDNN_MAX_CPU_ISA its parent set, and prints what it found as one JSON line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, cpuSupport, FusedI3D, noGrad, ops, scope, tensor } from '../src/index.js';
import { I3D } from '../src/models/i3d.js';
import { loadKerasH5 } from '../src/weights/keras-h5.js';
import { i3dParityFixtures, relErr } from './helpers.js';

const { dir, cases } = i3dParityFixtures();
const out: Record<string, unknown> = { support: cpuSupport() };
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.message));
if (process.argv[2] === '--fallbacks') {
  // Small clips through a random full-width I3D: the layout the default and a forced 16-channel plan end up with.
  const model = new I3D({ includeTop: false }).eval();
  const clip = ops.rand([1, 8, 32, 32, 3]).mul(2).sub(1);
  const eager = noGrad(() => model.forwardFeatures(clip)).toArray();
  for (const block of [undefined, 16] as const) {
    const fused = new FusedI3D(model, { block });
    const map = fused.featureMap(clip).toArray();
    out[block ? 'forced16' : 'default'] = { layout: fused.layout(8, 32, 32), relErr: relErr(map, eager) };
    fused.dispose();
  }
  model.dispose();
}
if (process.argv[2] === '--factory') {
  // What createEngine picks for a full-width and a narrow I3D, and why.
  for (const [key, width] of [
    ['full', 1],
    ['narrow', 0.25],
  ] as const) {
    const model = new I3D({ includeTop: false, width }).eval();
    const engine = createEngine(model);
    out[key] = { kind: engine.kind, reason: engine.reason };
    engine.dispose();
    model.dispose();
  }
}
for (const name of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const c = cases.find((x) => x.name === name)!;
  const model = new I3D({ stream: c.stream, includeTop: c.includeTop }).eval();
  await loadKerasH5(model, join(dir, c.weights));
  const clip = tensor(new Float32Array(readFileSync(join(dir, c.clip)).buffer.slice(0)), c.shape);
  const fused = createEngine(model);
  const eager = createEngine(model, { engine: 'eager' });
  const [t, h, w] = [c.shape[1]!, c.shape[2]!, c.shape[3]!];
  const r = await scope(async () => {
    const f = await fused.outputs(clip);
    const e = await eager.outputs(clip);
    return {
      reason: fused.reason,
      layout: fused.layout(t, h, w),
      implementations: [...new Set(fused.implementations(t, h, w))],
      fusedFeatures: relErr(f.features.toArray(), c.features),
      fusedLogits: c.logits ? relErr(f.logits!.toArray(), c.logits) : null,
      eagerFeatures: relErr(e.features.toArray(), c.features),
      eagerLogits: c.logits ? relErr(e.logits!.toArray(), c.logits) : null,
    };
  });
  let bf16: string;
  try {
    new FusedI3D(model, { precision: 'bf16' }).dispose();
    bf16 = 'ok';
  } catch (e) {
    bf16 = (e as Error).message;
  }
  out[name] = { ...r, bf16 };
  fused.dispose();
  eager.dispose();
  model.dispose();
}
await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
out.warnings = warnings;
console.log(JSON.stringify(out));
