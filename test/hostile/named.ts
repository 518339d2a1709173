// What counts as a "named" error in the reliability campaign: an I3DError (or a subclass) whose code is in the one
// catalogue (src/core/errors.ts), with a message that names the input.
import { ERRORS, I3DError } from '../../src/core/errors.js';

export const NAMED_CODES: ReadonlySet<string> = new Set(Object.keys(ERRORS));

/** True when `e` is a catalogue error with a message that contains `name` (the input's file name). */
export function isNamedError(e: unknown, name: string): boolean {
  return e instanceof I3DError && NAMED_CODES.has(e.code) && e.message.includes(name);
}
