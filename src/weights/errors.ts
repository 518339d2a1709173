// Errors of the weight loaders.
import { errorClass } from '../core/errors.js';

/** A weights file, checkpoint or model folder that is missing, corrupt or does not fit (I3D_BAD_WEIGHTS). */
export class WeightsError extends errorClass('WeightsError', 'I3D_BAD_WEIGHTS') {}

/** Throws, when there are any, the mismatches between a weights source and a model: the first 10, then a count. */
export function throwIfMismatched(source: string, problems: readonly string[]): void {
  if (!problems.length) return;
  const shown = problems.slice(0, 10).map((p) => `  - ${p}`);
  if (problems.length > 10) shown.push(`  ... and ${problems.length - 10} more`);
  throw new WeightsError(`${source} does not fit this model (${problems.length} mismatches):\n${shown.join('\n')}`);
}
