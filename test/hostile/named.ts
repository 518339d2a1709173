// What counts as a "named" error in the reliability campaign: a string `code` from the catalogue (src/core/errors.ts),
// one of VideoError's codes, or one of the file readers' own codes that the catalogue does not list yet, and a message
// that names the input. (The catalogue is being unified; then only ERRORS' keys remain here.)
import { ERRORS } from '../../src/core/errors.js';
import type { VideoErrorCode } from '../../src/video/errors.js';

const VIDEO_CODES: readonly VideoErrorCode[] = [
  'NOT_FOUND',
  'EMPTY',
  'UNREADABLE',
  'NO_VIDEO_STREAM',
  'NO_FRAMES',
  'TRUNCATED',
  'TOO_LARGE',
  'TOO_SMALL',
  'TOO_LONG',
  'TIMEOUT',
  'NO_FFMPEG',
];

/** Codes of the readers' error classes (WeightsError, NpyError, ParamsError, DatasetError) before the catalogue has them. */
const READER_CODES = ['I3D_BAD_WEIGHTS', 'I3D_BAD_NPY', 'I3D_BAD_PARAMS', 'I3D_BAD_DATASET'];

export const NAMED_CODES: ReadonlySet<string> = new Set([...Object.keys(ERRORS), ...VIDEO_CODES, ...READER_CODES]);

/** True when `e` is an Error with a known string code and a message that contains `name` (the input's file name). */
export function isNamedError(e: unknown, name: string): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && NAMED_CODES.has(code) && e.message.includes(name);
}
