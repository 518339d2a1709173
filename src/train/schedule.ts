// The seed's three-phase learning rate: epochs 1..b1 the initial rate, b1+1..b2 the reduced one, then the final one.
import { ArgumentError } from '../tensor/validate.js';

export interface StepSchedule {
  /** [initial, reduced, final]. */
  rates: readonly [number, number, number];
  /** [b1, b2]: the last epoch (1-based) of the first and of the second phase (the seed's: [10, 15]). */
  boundaries: readonly [number, number];
}

/** The learning rate of a 1-based epoch. */
export function learningRate(s: StepSchedule, epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 1) throw new ArgumentError(`learningRate: epoch must be an integer >= 1, got ${epoch}`);
  const [b1, b2] = s.boundaries;
  if (epoch <= b1) return s.rates[0];
  if (epoch <= b2) return s.rates[1];
  return s.rates[2];
}
