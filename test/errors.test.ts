// Bad shapes, dtypes and devices raise catchable errors carrying libtorch's message; the process lives on. The error
// catalogue: every code has a kind, an exit code, an HTTP status and a doc; the README's tables are the catalogue's; the
// real CLI exits with the code of each kind of error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { join } from 'node:path';
import {
  ArgumentError,
  ClipError,
  DatasetError,
  DownloadError,
  ERRORS,
  EXIT_CODES,
  exitCodeOf,
  F,
  I3DError,
  isErrorCode,
  MemoryBudgetError,
  NonFiniteLossError,
  NpyError,
  ops,
  ParamsError,
  scope,
  tensor,
  VideoError,
  WeightsError,
  type ErrorCode,
} from '../src/index.js';
import { errorCodeRows, exitCodeRows, parseTables } from '../src/core/error-table.js';
import { LIBRARY_CODES, SERVE_CODES, ServeError, toServeError } from '../src/serve/errors.js';
import { ROOT, runCliAll, SHARED } from './helpers.js';
import { tempDir } from './video-fixtures.js';

test('shape and dtype errors from libtorch are JavaScript Errors with its message', () =>
  scope(() => {
    const x = ops.randn([1, 3, 4, 8, 8]);
    assert.throws(() => F.conv3d(x, ops.randn([4, 2, 3, 3, 3])), /expected input\[1, 3, 4, 8, 8\] to have 2 channels, but got 3 channels/);
    assert.throws(() => ops.matmul(ops.ones([2, 3]), ops.ones([2, 3])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    assert.throws(() => ops.add(ops.ones([2]), ops.ones([3])), /The size of tensor a \(2\) must match the size of tensor b \(3\)/);
    assert.throws(() => F.crossEntropy(ops.randn([2, 3]), tensor([0.5, 1], [2])), /Error/);
    assert.throws(() => ops.reshape(ops.ones([6]), [4, 2]), /shape '\[4, 2\]' is invalid for input of size 6/);
    assert.throws(() => F.conv3d(x.to('int64'), ops.randn([4, 3, 3, 3, 3])), /Error/);
  }));

test('argument errors name the call, the parameter and what it accepts', () =>
  scope(() => {
    const x = ops.randn([1, 3, 4, 8, 8]);
    assert.throws(
      () => F.conv3d(x, ops.randn([4, 3, 3, 3, 3]), { stride: 0 }),
      /conv3d: 'stride' must be an integer >= 1 or 3 of them, got 0/,
    );
    assert.throws(
      () => F.conv3d(ops.ones([3, 3]), ops.ones([1])),
      /conv3d: 'x' must be a 5-D tensor \[N, C, T, H, W\], got "shape \[3, 3\]"/,
    );
    assert.throws(() => ops.zeros([2], { dtype: 'float8' as 'float32' }), /zeros: 'dtype' must be one of float32, float64, bfloat16/);
    assert.throws(
      () => F.crossEntropy(x, x, { reduction: 'avg' as 'mean' }),
      /crossEntropy: 'reduction' must be one of 'mean', 'sum', 'none', got "avg"/,
    );
    assert.throws(() => F.dropout(x, 1.5, true), /dropout: 'p' must be a number in \[0, 1\), got 1.5/);
  }));

test('async ops reject with libtorch message instead of throwing', async () => {
  await scope(async () => {
    await assert.rejects(ops.matmul.async(ops.ones([2, 3]), ops.ones([4, 5])), /mat1 and mat2 shapes cannot be multiplied/);
    await assert.rejects(F.conv3d.async(ops.ones([1, 2, 3, 3, 3]), ops.ones([1, 5, 1, 1, 1])), /channels/);
  });
});

test('a process that hits many libtorch errors survives and still computes', () => {
  const script = `
    import { F, ops, scope } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
    let caught = 0;
    const bad = [
      () => ops.matmul(ops.ones([2, 3]), ops.ones([2, 3])),
      () => F.conv3d(ops.ones([1, 3, 2, 2, 2]), ops.ones([1, 4, 3, 3, 3])),
      () => ops.to(ops.ones([2]), 'cuda:7'),
      () => F.lstm(ops.ones([2, 3, 4]), [ops.ones([1, 2, 5]), ops.ones([1, 2, 5])], [ops.ones([3, 3]), ops.ones([3, 3]), ops.ones([3]), ops.ones([3])]),
      () => F.batchNorm(ops.ones([2, 3, 1, 1, 1]), { runningMean: ops.zeros([4]), runningVar: ops.ones([4]) }),
      () => ops.cat([ops.ones([2, 2]), ops.ones([3])]),
      () => ops.ones([2]).backward(),
    ];
    for (let i = 0; i < 200; i++) for (const f of bad) { try { scope(f); } catch (e) { if (e instanceof Error) caught++; } }
    await Promise.allSettled(Array.from({ length: 50 }, () => ops.matmul.async(ops.ones([2, 3]), ops.ones([4]))));
    console.log('caught', caught, 'sum', ops.ones([3]).mul(2).sum().item());
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /caught 1400 sum 6/);
});

test('every catalogue code has a kind (an exit code), an HTTP status and a one-line doc; library codes start with I3D_', () => {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  assert.ok(codes.length >= 40, `${codes.length} codes`);
  for (const c of codes) {
    const { kind, http, doc } = ERRORS[c];
    assert.ok(Object.hasOwn(EXIT_CODES, kind), `${c}: kind ${kind}`);
    assert.ok(Number.isInteger(http) && http >= 400 && http <= 599, `${c}: HTTP ${http}`);
    assert.ok(doc.length >= 10 && !doc.includes('\n'), `${c}: doc`);
    assert.match(c, /^[A-Z][A-Z0-9_]*$/, c);
    // The one exception to the I3D_ prefix: the service's published codes.
    if (!c.startsWith('I3D_')) assert.ok((SERVE_CODES as readonly string[]).includes(c), `${c} is neither I3D_* nor a service code`);
  }
  for (const c of SERVE_CODES) assert.ok(isErrorCode(c), `service code ${c} is in the catalogue`);
  assert.deepEqual(EXIT_CODES, { usage: 2, input: 3, model: 4, resource: 5, internal: 1 });
  assert.ok(!isErrorCode('toString') && !isErrorCode('NOPE') && isErrorCode('I3D_BAD_NPY'));
});

test('each error class is an I3DError with its name, code, exit code and HTTP status', () => {
  const cases: [Error, string, string, number][] = [
    [new VideoError('EMPTY', 'a.mp4', 'the file is empty (0 bytes)'), 'VideoError', 'I3D_VIDEO_EMPTY', 3],
    [new VideoError('I3D_VIDEO_TOO_LONG', 'a.mp4', 'too long'), 'VideoError', 'I3D_VIDEO_TOO_LONG', 5],
    [new WeightsError('w.h5: not an HDF5 file'), 'WeightsError', 'I3D_BAD_WEIGHTS', 4],
    [new DatasetError('d: no such dataset folder'), 'DatasetError', 'I3D_BAD_DATASET', 3],
    [new NpyError('x.npy: not a .npy file'), 'NpyError', 'I3D_BAD_NPY', 3],
    [new ParamsError('p.yaml: bad'), 'ParamsError', 'I3D_BAD_PARAMS', 3],
    [new ClipError('c.npy: 2 channels'), 'ClipError', 'I3D_BAD_CLIP', 3],
    [new MemoryBudgetError('--max-memory 1 MB is too small'), 'MemoryBudgetError', 'I3D_MEMORY_BUDGET', 5],
    [new DownloadError('https://x/y', '/tmp/y', 'download of https://x/y failed'), 'DownloadError', 'I3D_DOWNLOAD', 4],
    [new NonFiniteLossError('loss became NaN'), 'NonFiniteLossError', 'I3D_NON_FINITE_LOSS', 1],
    [new ArgumentError("conv3d: 'stride' must be"), 'ArgumentError', 'I3D_INVALID_ARGUMENT', 2],
    [new ServeError('QUEUE_FULL', 'the queue is full', 1), 'ServeError', 'QUEUE_FULL', 5],
  ];
  for (const [e, name, code, exit] of cases) {
    assert.ok(e instanceof I3DError && e instanceof Error, name);
    const i = e as I3DError;
    assert.equal(i.name, name);
    assert.equal(i.code, code);
    assert.equal(i.exitCode, exit, `${name} exit code`);
    assert.equal(exitCodeOf(e), exit);
    assert.equal(i.httpStatus, ERRORS[i.code].http);
    assert.ok(String(e.stack).startsWith(`${name}: `), `${name}: stack`);
  }
  assert.equal((cases[0]![0] as VideoError).file, 'a.mp4');
  assert.equal((cases.at(-1)![0] as ServeError).status, 429);
  assert.equal(exitCodeOf(new Error('plain')), 1);
  assert.equal(exitCodeOf('a string'), 1);
});

test("the service answers a library error with its service code, whose HTTP status is the library code's", () => {
  for (const [lib, served] of Object.entries(LIBRARY_CODES) as [ErrorCode, ErrorCode][]) {
    assert.ok(isErrorCode(lib) && lib.startsWith('I3D_'), lib);
    // A missing upload or ffmpeg is the server's fault, whatever the CLI says about the same code.
    if (served === 'INTERNAL') assert.ok(lib === 'I3D_VIDEO_NOT_FOUND' || lib === 'I3D_VIDEO_NO_FFMPEG', lib);
    else assert.equal(ERRORS[served].http, ERRORS[lib].http, `${lib} -> ${served}`);
  }
  const upload = { path: '/tmp/i3d-upload-123/file', name: 'clip.mp4' };
  const bad = toServeError(new VideoError('UNREADABLE', upload.path, `ffmpeg cannot read it: ${upload.path}: Invalid data`), upload);
  assert.deepEqual([bad.code, bad.status, bad.message], ['NOT_A_VIDEO', 415, 'clip.mp4: ffmpeg cannot read it: Invalid data']);
  const budget = toServeError(new MemoryBudgetError(`${upload.path}: --max-memory 1 MB is too small`), upload);
  assert.deepEqual([budget.code, budget.status, budget.message], ['VIDEO_LIMIT', 422, 'clip.mp4: --max-memory 1 MB is too small']);
  const weights = toServeError(new WeightsError('w.h5: corrupt'));
  assert.deepEqual([weights.code, weights.status], ['INTERNAL', 500]);
  const clip = toServeError(new ClipError("input 'clip': 2 channels"));
  assert.deepEqual([clip.code, clip.status], ['BAD_TENSOR', 400]);
});

test("the README's tables of exit codes and error codes are the catalogue's (node scripts/error-table.mjs writes them)", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const a = readme.indexOf('<!-- error-table -->');
  const b = readme.indexOf('<!-- /error-table -->');
  assert.ok(a >= 0 && b > a, 'README.md has the error-table markers');
  const [exits, codes] = parseTables(readme.slice(a, b));
  assert.deepEqual(exits, exitCodeRows(), 'exit codes: run node scripts/error-table.mjs');
  assert.deepEqual(codes, errorCodeRows(), 'error codes: run node scripts/error-table.mjs');
  const script = spawnSync(process.execPath, [join(ROOT, 'scripts/error-table.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(script.status, 0, script.stderr);
});

test('the CLI exits 2 for usage errors, 3 for a bad input file, 4 for bad weights, 5 for a resource limit', async () => {
  const tmp = tempDir('i3d-errors-');
  try {
    const video = join(SHARED, 'data/videos/asl_again.mkv');
    const out = join(tmp.dir, 'out.npy');
    const junk = join(tmp.dir, 'junk.mp4');
    writeFileSync(junk, Buffer.from('not a video at all, just text bytes named .mp4 '.repeat(40)));
    const corrupt = join(tmp.dir, 'corrupt.h5');
    writeFileSync(corrupt, Buffer.alloc(4096, 7));
    const cases: [string[], number, RegExp][] = [
      // Usage (2): commander's own errors, in our format, and ours.
      [['predict', video, '--bogus'], 2, /^i3d: unknown option '--bogus'/],
      [['predict'], 2, /^i3d: missing required argument 'inputs'/],
      [['--threads', '0', 'doctor'], 2, /^i3d: .*--threads must be a positive integer, got '0'/],
      [['predict', video, '--weights', 'random', '--stride', '1'], 2, /^i3d: --stride needs --window/],
      // Bad input file (3): missing, empty, corrupt.
      [['preprocess', join(tmp.dir, 'missing.mp4'), '--frames', '8', '--out', out], 3, /missing\.mp4: cannot open \(ENOENT\)/],
      [['preprocess', junk, '--frames', '8', '--out', out], 3, /^i3d: .*junk\.mp4: /],
      // Bad weights (4): a corrupt weights file.
      [['predict', video, '--weights', corrupt], 4, /corrupt\.h5: not an HDF5 file/],
      // Resource limit (5): the memory budget cannot hold the shortest exact chunk.
      [
        ['predict', video, '--weights', 'random', '--max-memory', '1', '--size', '64', '--resize', '64'],
        5,
        /--max-memory 1 MB is too small for 64x64 frames/,
      ],
    ];
    const results = await runCliAll(cases.map(([args]) => args));
    cases.forEach(([args, status, message], i) => {
      const r = results[i]!;
      assert.equal(r.status, status, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    });
  } finally {
    tmp.remove();
  }
});
