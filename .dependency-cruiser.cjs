// The layer order of src/ (docs/architecture.md): a module imports only from its own layer or the layers below it,
// and nothing imports in a cycle (static, type-only and dynamic `import()` alike). `npm run lint` runs this.
/** Bottom to top; each entry is one layer, the folders (or files) under src/ that belong to it. */
const LAYERS = [
  ['core', 'io', 'net', 'system', 'types'],
  ['native'],
  ['tensor'],
  ['nn', 'optim'],
  ['models'],
  ['weights'],
  ['video'],
  ['data'],
  ['inference'],
  ['features'],
  ['distributed'],
  ['train'],
  ['serve'],
  ['cli'],
  ['index.ts'],
];

const pattern = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})(/|$)`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer[0]}`,
  severity: 'error',
  comment: `${layer.join(', ')} may import only from its own layer or below (${LAYERS.slice(0, i).flat().join(', ') || 'nothing'})`,
  from: { path: pattern(layer) },
  to: { path: pattern(LAYERS.slice(i + 1).flat()) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment:
        'an import cycle that runs (dynamic imports included; cycles of type-only imports are erased by tsc): move the shared piece down a layer',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
