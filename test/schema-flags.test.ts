// i3d train's flags are made from the parameters schema: every field has one, flags override the file, and the
// negated booleans only count when given.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { paramsFromCli, TRAIN_FLAGS } from '../src/cli/commands/train.js';
import { TrainParamsSchema } from '../src/train/params.js';

function parse(args: string[]): Record<string, unknown> {
  const cmd = new Command()
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .option('--config <file>');
  for (const o of TRAIN_FLAGS.options) cmd.addOption(o);
  cmd.parse(args, { from: 'user' });
  return cmd.opts();
}

test('every field of the parameters schema has a flag, with the field description as its help', () => {
  const keys = Object.keys(TrainParamsSchema.shape);
  const covered = new Set(Object.keys(TRAIN_FLAGS.given(Object.fromEntries(TRAIN_FLAGS.options.map((o) => [o.attributeName(), false])))));
  assert.deepEqual([...covered].sort(), [...keys].sort());
  const lstm = TRAIN_FLAGS.options.find((o) => o.long === '--lstm')!;
  assert.equal(lstm.description, TrainParamsSchema.shape.lstm.description);
});

test('flags parse by the field type and override the parameters file; absent flags leave the file alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flags-'));
  try {
    const config = join(dir, 'p.yaml');
    writeFileSync(config, 'data: d\nout: o\nflip: false\nfreeze: true\nepochs: 3\nlr: [0.1, 0.01, 0.001]\n');
    const fromFile = paramsFromCli(parse(['--config', config]));
    assert.deepEqual([fromFile.flip, fromFile.freeze, fromFile.epochs, fromFile.lr], [false, true, 3, [0.1, 0.01, 0.001]]);
    const p = paramsFromCli(
      parse(['--config', config, '--epochs', '7', '--lstm', '64,32', '--classes', 'a, b', '--frame-cache', '128', '--no-feature-cache']),
    );
    assert.deepEqual([p.epochs, p.lstm, p.classes, p.frameCacheMB, p.featureCache, p.flip], [7, [64, 32], ['a', 'b'], 128, false, false]);
    assert.equal(paramsFromCli(parse(['--data', 'd', '--out', 'o', '--no-flip'])).flip, false);
    assert.equal(paramsFromCli(parse(['--data', 'd', '--out', 'o', '--feature-cache', 'feat'])).featureCache, 'feat');
    assert.throws(() => parse(['--epochs', '0']), /--epochs must be a positive integer, got '0'/);
    assert.throws(() => parse(['--lr', '1,2']), /--lr takes 3 comma-separated numbers/);
    assert.throws(() => parse(['--stream', 'depth']), /--stream: .*"rgb".*"flow".*, got 'depth'/);
    assert.throws(() => parse(['--frames', '4']), /--frames: Too small: expected number to be >=8, got '4'/);
    assert.throws(() => parse(['--dropout', '1']), /--dropout: .*<1, got '1'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
