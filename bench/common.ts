// Shared by the bench scripts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench scripts run from dist/bench). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
