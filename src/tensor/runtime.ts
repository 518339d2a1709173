// Process-wide settings and facts about the engine.
import { native, type NativeFacts } from '../native/binding.js';
export { defaultThreads } from '../native/binding.js';
import * as v from './validate.js';

/** Threads libtorch uses inside one op (applies to ops run from any thread, async ones included). */
export function setNumThreads(n: number): void {
  native.setNumThreads(v.int('setNumThreads', 'n', n, 1));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Seeds libtorch's random generators (initialisation, dropout, randn, randperm). */
export function manualSeed(seed: number): void {
  native.manualSeed(v.int('manualSeed', 'seed', seed, 0));
}

export type EngineFacts = NativeFacts;

export function engineFacts(): EngineFacts {
  return native.facts();
}
