#!/usr/bin/env node
// Writes the README's tables of exit codes and error codes from the catalogue (src/core/errors.ts), between the
// markers <!-- error-table --> and <!-- /error-table -->, aligned by prettier. Run after `npm run build:ts`:
//   node scripts/error-table.mjs           rewrite README.md
//   node scripts/error-table.mjs --check   exit 1 when README.md differs (test/errors.test.ts checks the same)
import { readFileSync, writeFileSync } from 'node:fs';
import * as prettier from 'prettier';

const root = new URL('../', import.meta.url);
const readme = new URL('README.md', root);
const { errorTablesMarkdown } = await import(new URL('dist/src/core/error-table.js', root).href);

const BEGIN = '<!-- error-table -->';
const END = '<!-- /error-table -->';
const text = readFileSync(readme, 'utf8');
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a < 0 || b < a) {
  console.error(`README.md: no ${BEGIN} ... ${END} markers`);
  process.exit(1);
}
const path = new URL(readme).pathname;
const options = { ...(await prettier.resolveConfig(path)), filepath: path };
const next = await prettier.format(`${text.slice(0, a + BEGIN.length)}\n\n${errorTablesMarkdown()}\n\n${text.slice(b)}`, options);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md: the error tables differ from src/core/errors.ts; run: node scripts/error-table.mjs');
    process.exit(1);
  }
} else if (next !== text) {
  writeFileSync(readme, next);
  console.log('README.md: error tables written');
} else console.log('README.md: error tables up to date');
