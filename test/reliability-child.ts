// Child process of test/reliability-writes.test.ts. Modes:
//   zoo <name>    fetches a zoo file into $I3D_CACHE_DIR/zoo (from $I3D_ZOO_MIRROR), prints its path
import { resolveWeights } from '../src/weights/zoo.js';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'zoo') {
  console.log(await resolveWeights(args[0]!));
} else {
  console.error(`reliability-child: unknown mode ${mode}`);
  process.exit(2);
}
