// `i3d serve` in this process: every route, OIP v2 parity with `i3d predict` (JSON and binary tensors), uploads
// (raw, multipart, hostile), limits, the queue under a flood, time limits, cancellation, metrics, the API key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeNpy } from '../src/io/npy.js';
import { startServer, type I3DServer } from '../src/serve/app.js';
import { liveProcesses } from '../src/video/ffmpeg.js';
import { ROOT, runCli } from './helpers.js';
import { LABELS, saveTinyFlowModel, rawRequest, saveTinyModel, smallClip } from './serve-fixtures.js';
import { assertNoFfmpegLeft, ASL, BOTTLE, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-serve-test-');
let modelDir = '';
let server: I3DServer;
const MAX_UPLOAD = 2 << 20;

interface ErrorBody {
  error: string;
  code: string;
}

async function json<T>(r: Response): Promise<T> {
  return (await r.json()) as T;
}

function relClose(actual: readonly number[], expected: readonly number[], rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  for (let i = 0; i < actual.length; i++)
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= rtol * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (relative tolerance ${rtol} of ${scale})`,
    );
}

/** The binary tensor extension: a JSON header, then the inputs' bytes. */
function binaryBody(header: object, ...parts: Uint8Array[]): { body: Buffer; headerLength: number } {
  const head = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([head, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]), headerLength: head.length };
}

/** Parses a binary-extension response into its JSON header and named output arrays. */
function parseBinaryResponse(buf: Buffer, headerLength: number) {
  const head = JSON.parse(buf.subarray(0, headerLength).toString()) as {
    id?: string;
    outputs: { name: string; shape: number[]; datatype: string; data?: number[]; parameters?: { binary_data_size: number } }[];
  };
  let off = headerLength;
  const out = new Map<string, number[]>();
  for (const o of head.outputs) {
    if (o.parameters?.binary_data_size !== undefined) {
      const n = o.parameters.binary_data_size;
      const copy = new Uint8Array(buf.subarray(off, off + n));
      out.set(o.name, Array.from(new Float32Array(copy.buffer)));
      off += n;
    } else out.set(o.name, o.data!);
  }
  assert.equal(off, buf.length, 'binary response: sizes add up to the body');
  return { head, out };
}

before(async () => {
  modelDir = saveTinyModel(tmp.dir);
  server = await startServer({
    models: [{ name: 'tiny', source: modelDir }],
    port: 0,
    size: 64,
    resize: 72,
    workers: 1,
    maxQueue: 1,
    maxUploadBytes: MAX_UPLOAD,
    timeoutSec: 60,
    tmpDir: tmp.dir,
  });
  await server.loaded;
});

after(async () => {
  await server?.close();
  tmp.remove();
});

describe('OIP v2 health and metadata', () => {
  it('live, ready, server metadata', async () => {
    assert.deepEqual(await json(await fetch(`${server.url}/v2/health/live`)), { live: true });
    assert.deepEqual(await json(await fetch(`${server.url}/v2/health/ready`)), { ready: true });
    const meta = await json<{ name: string; extensions: string[] }>(await fetch(`${server.url}/v2`));
    assert.equal(meta.name, 'i3d');
    assert.ok(meta.extensions.includes('binary_tensor_data'));
  });

  it('model metadata and readiness; unknown model 404', async () => {
    const m = await json<{
      name: string;
      inputs: { name: string; datatype: string; shape: number[] }[];
      outputs: { name: string; shape: number[] }[];
    }>(await fetch(`${server.url}/v2/models/tiny`));
    assert.equal(m.name, 'tiny');
    assert.deepEqual(
      m.inputs.map((i) => [i.name, i.datatype, i.shape]),
      [
        ['clip', 'FP32', [-1, -1, -1, -1, 3]],
        ['video', 'BYTES', [1]],
      ],
    );
    assert.deepEqual(
      m.outputs.map((o) => [o.name, o.shape]),
      [
        ['logits', [-1, 6]],
        ['probabilities', [-1, 6]],
        ['features', [-1, 1024]],
      ],
    );
    assert.deepEqual(await json(await fetch(`${server.url}/v2/models/tiny/ready`)), { name: 'tiny', ready: true });
    for (const path of ['/v2/models/nope', '/v2/models/nope/ready']) {
      const r = await fetch(`${server.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal((await json<ErrorBody>(r)).code, 'UNKNOWN_MODEL');
    }
    const r = await fetch(`${server.url}/v2/models/nope/infer`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 404);
    const unknownRoute = await fetch(`${server.url}/v3/whatever`);
    assert.equal(unknownRoute.status, 404);
    assert.equal((await json<ErrorBody>(unknownRoute)).code, 'NOT_FOUND');
  });
});

describe('the page', () => {
  it('GET / and its files, with a content security policy; shipped in the package', async () => {
    const html = await fetch(`${server.url}/`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const text = await html.text();
    for (const f of ['/page/app.js', '/page/style.css']) {
      assert.ok(text.includes(f), f);
      assert.equal((await fetch(`${server.url}${f}`)).status, 200, f);
    }
    assert.ok(!/https?:\/\//.test(text), 'no external resource');
    assert.equal((await fetch(`${server.url}/page/..%2Fapp.ts`)).status, 404);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('src/serve/page'), 'package.json "files" ships the page');
  });
});

describe('OIP v2 infer', () => {
  const clipA = smallClip(1);
  const clipB = smallClip(2);
  let cliA: number[] = [];
  let cliB: number[] = [];

  before(async () => {
    // `i3d predict` on the same clips, same model folder.
    for (const [name, clip] of [
      ['a', clipA],
      ['b', clipB],
    ] as const) {
      const path = join(tmp.dir, `${name}.npy`);
      writeNpy(path, clip.data, clip.shape);
      const r = await runCli(['predict', path, '--weights', modelDir, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const logits = (JSON.parse(r.stdout) as { logits: number[] }).logits;
      if (name === 'a') cliA = logits;
      else cliB = logits;
    }
  });

  it('JSON tensors: logits equal `i3d predict` (1e-5 relative), probabilities sum to 1, id echoed', async () => {
    const body = {
      id: 'req-42',
      inputs: [{ name: 'clip', datatype: 'FP32', shape: [2, 8, 32, 32, 3], data: [...clipA.data, ...clipB.data] }],
    };
    const r = await fetch(`${server.url}/v2/models/tiny/infer`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 200, await r.clone().text());
    const res = await json<{
      id: string;
      model_name: string;
      outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    }>(r);
    assert.equal(res.id, 'req-42');
    assert.equal(res.model_name, 'tiny');
    const logits = res.outputs.find((o) => o.name === 'logits')!;
    const probs = res.outputs.find((o) => o.name === 'probabilities')!;
    assert.deepEqual(logits.shape, [2, 6]);
    assert.equal(logits.datatype, 'FP32');
    relClose(logits.data.slice(0, 6), cliA, 1e-5, 'logits of clip a');
    relClose(logits.data.slice(6), cliB, 1e-5, 'logits of clip b');
    for (const b of [0, 1]) {
      const p = probs.data.slice(b * 6, b * 6 + 6);
      assert.ok(Math.abs(p.reduce((s, x) => s + x, 0) - 1) < 1e-5);
      assert.equal(p.indexOf(Math.max(...p)), cliA.length && (b ? cliB : cliA).indexOf(Math.max(...(b ? cliB : cliA))));
    }
    assert.equal(
      res.outputs.find((o) => o.name === 'features'),
      undefined,
      'features only when asked for',
    );
  });

  it('binary tensor extension: binary input, binary logits and features, JSON probabilities', async () => {
    const { body, headerLength } = binaryBody(
      {
        id: 'bin-1',
        inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 8, 32, 32, 3], parameters: { binary_data_size: clipA.data.byteLength } }],
        outputs: [
          { name: 'logits', parameters: { binary_data: true } },
          { name: 'probabilities', parameters: { binary_data: false } },
          { name: 'features', parameters: { binary_data: true } },
        ],
      },
      new Uint8Array(clipA.data.buffer),
    );
    const r = await rawRequest(`${server.url}/v2/models/tiny/infer`, {
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': headerLength,
        'content-length': body.length,
      },
      body,
    });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const { head, out } = parseBinaryResponse(r.body, Number(r.headers['inference-header-content-length']));
    assert.equal(head.id, 'bin-1');
    relClose(out.get('logits')!, cliA, 1e-5, 'binary logits');
    assert.equal(out.get('features')!.length, 1024);
    assert.ok(out.get('features')!.every(Number.isFinite));
    assert.equal(out.get('probabilities')!.length, 6);
  });

  it('BYTES video input (binary): decoded on the server; the same as /v1/predict of that file', async () => {
    const video = readFileSync(ASL[4]!);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(video.length);
    const { body, headerLength } = binaryBody(
      { inputs: [{ name: 'video', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: video.length + 4 } }] },
      len,
      video,
    );
    const r = await rawRequest(`${server.url}/v2/models/tiny/infer`, {
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength },
      body,
    });
    assert.equal(r.status, 200, r.body.toString());
    const res = JSON.parse(r.body.toString()) as { outputs: { name: string; data: number[] }[] };
    const logits = res.outputs.find((o) => o.name === 'logits')!.data;
    const p = await fetch(`${server.url}/v1/predict?top=6`, {
      method: 'POST',
      body: video,
      headers: { 'content-type': 'video/x-matroska' },
    });
    const top = (await json<{ top: { index: number; logit: number }[] }>(p)).top;
    for (const t of top) assert.ok(Math.abs(t.logit - logits[t.index]!) <= 1e-5 * Math.abs(t.logit) + 1e-6);
  });

  it('400 for bad JSON, unknown inputs/outputs, and shapes that disagree with the data (before allocating)', async () => {
    const post = (body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(`${server.url}/v2/models/tiny/infer`, { method: 'POST', body, headers });
    const cases: [string | Buffer, string][] = [
      ['{not json', 'BAD_JSON'],
      ['[]', 'BAD_JSON'],
      [JSON.stringify({ inputs: [] }), 'BAD_JSON'],
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 8, 32, 32, 3], data: [1, 2, 3] }] }), 'BAD_TENSOR'],
      // A declared shape of 3e18 elements with 3 values: refused from the numbers, nothing allocated.
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 1e6, 1e6, 1e6, 3], data: [1, 2, 3] }] }), 'BAD_TENSOR'],
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, -8, 32, 32, 3], data: [] }] }), 'BAD_TENSOR'],
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'INT8', shape: [1], data: [1] }] }), 'BAD_TENSOR'],
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 1, 1, 1, 3], data: [0, 'x', 0] }] }), 'BAD_TENSOR'],
      [JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 1, 1, 1, 3], data: [0, 0, 0] }] }), 'BAD_TENSOR'],
      [JSON.stringify({ inputs: [{ name: 'image', datatype: 'FP32', shape: [1], data: [0] }] }), 'BAD_TENSOR'],
      [
        JSON.stringify({
          inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 8, 32, 32, 3], data: Array.from(smallClip(3).data) }],
          outputs: [{ name: 'secrets' }],
        }),
        'BAD_TENSOR',
      ],
    ];
    for (const [body, code] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, String(body).slice(0, 80));
      assert.equal((await json<ErrorBody>(r)).code, code, String(body).slice(0, 80));
    }
    // Binary: the declared size disagrees with the shape, or runs past the body.
    const head = (size: number) =>
      binaryBody(
        { inputs: [{ name: 'clip', datatype: 'FP32', shape: [1, 8, 32, 32, 3], parameters: { binary_data_size: size } }] },
        new Uint8Array(400),
      );
    for (const size of [400, 1e9]) {
      const { body, headerLength } = head(size);
      const r = await post(body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });
      assert.equal(r.status, 400);
      assert.equal((await json<ErrorBody>(r)).code, 'BAD_TENSOR');
    }
  });
});

describe('/v1/predict uploads', () => {
  it('raw and multipart uploads of a real video give the same classes; windows on request', async () => {
    const video = readFileSync(ASL[2]!);
    const raw = await fetch(`${server.url}/v1/predict?top=3`, {
      method: 'POST',
      body: video,
      headers: { 'content-type': 'video/x-matroska' },
    });
    assert.equal(raw.status, 200);
    const a = await json<{
      model: string;
      top: { index: number; label: string; probability: number; logit: number }[];
      durationSec: number;
      timings: object;
    }>(raw);
    assert.equal(a.model, 'tiny');
    assert.equal(a.top.length, 3);
    assert.equal(a.top[0]!.label, LABELS[a.top[0]!.index]);
    assert.ok(a.durationSec > 3 && a.durationSec < 4.5, `duration ${a.durationSec}`);
    const form = new FormData();
    form.append('video', new Blob([video], { type: 'video/x-matroska' }), 'asl_book.mkv');
    const mp = await fetch(`${server.url}/v1/predict?top=3&window=1&stride=0.4`, { method: 'POST', body: form });
    assert.equal(mp.status, 200);
    const b = await json<{ top: { index: number; logit: number }[]; windows: { start: number; end: number; top: { index: number }[] }[] }>(
      mp,
    );
    assert.deepEqual(
      b.top.map((t) => t.index),
      a.top.map((t) => t.index),
    );
    assert.ok(Math.abs(b.top[0]!.logit - a.top[0]!.logit) < 1e-5 * Math.abs(a.top[0]!.logit) + 1e-6);
    assert.ok(b.windows.length >= 4, `${b.windows.length} windows`);
    assert.deepEqual([b.windows[0]!.start, b.windows[0]!.end, b.windows[1]!.start], [0, 1, 0.4]);
    assert.equal(b.windows[0]!.top.length, 3);
    assert.deepEqual(await server.uploads.files(), []);
  });

  it('/v1/predict logits equal `i3d predict` on the same video', async () => {
    const r = await runCli(['predict', ASL[0]!, '--weights', modelDir, '--size', '64', '--resize', '72', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const cli = JSON.parse(r.stdout) as { logits: number[] };
    const res = await fetch(`${server.url}/v1/predict?top=6`, {
      method: 'POST',
      body: readFileSync(ASL[0]!),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const top = (await json<{ top: { index: number; logit: number }[] }>(res)).top;
    const got = new Array<number>(6);
    for (const t of top) got[t.index] = t.logit;
    relClose(got, cli.logits, 1e-5, 'served vs CLI logits');
  });

  it('/v1/predict streams a long upload in overlapping chunks under --max-memory: the same logits as `i3d predict` in one pass', async () => {
    const r = await runCli(['predict', BOTTLE, '--weights', modelDir, '--size', '64', '--resize', '72', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const cli = JSON.parse(r.stdout) as { logits: number[] };
    // 600 MB holds about 190 frames of 64 x 64 besides the model: the 40 s video (1000 frames at 25 fps) takes several chunks.
    const small = await startServer({
      models: [{ name: 'tiny', source: modelDir }],
      port: 0,
      size: 64,
      resize: 72,
      maxMemory: 600 * 2 ** 20,
      tmpDir: tmp.dir,
    });
    try {
      await small.loaded;
      const res = await fetch(`${small.url}/v1/predict?top=6`, {
        method: 'POST',
        body: readFileSync(BOTTLE),
        headers: { 'content-type': 'video/mp4' },
      });
      assert.equal(res.status, 200);
      const body = await json<{ top: { index: number; logit: number }[]; chunks: number; durationSec: number }>(res);
      assert.ok(body.chunks >= 3, `${body.chunks} chunks`);
      assert.ok(body.durationSec > 35, `duration ${body.durationSec}`);
      const got = new Array<number>(6);
      for (const t of body.top) got[t.index] = t.logit;
      relClose(got, cli.logits, 1e-5, 'chunked served vs one-pass CLI logits');
      assert.deepEqual(await small.uploads.files(), []);
    } finally {
      await small.close();
    }
    // A budget that cannot hold the shortest exact chunk: 422 from the catalogue, naming the upload, not its path.
    const tiny = await startServer({
      models: [{ name: 'tiny', source: modelDir }],
      port: 0,
      size: 64,
      resize: 72,
      maxMemory: 2 ** 20,
      tmpDir: tmp.dir,
    });
    try {
      await tiny.loaded;
      const res = await fetch(`${tiny.url}/v1/predict`, {
        method: 'POST',
        body: readFileSync(ASL[0]!),
        headers: { 'content-type': 'video/x-matroska' },
      });
      assert.equal(res.status, 422);
      const e = await json<ErrorBody>(res);
      assert.equal(e.code, 'VIDEO_LIMIT');
      assert.match(e.error, /^the upload: --max-memory 1 MB is too small for 64x64 frames/);
      assert.doesNotMatch(e.error, new RegExp(tmp.dir));
      assert.deepEqual(await tiny.uploads.files(), []);
    } finally {
      await tiny.close();
    }
  });

  it('random bytes, an empty file, text, a multipart body without the field: 4xx with a code', async () => {
    const bytes = Buffer.alloc(50_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const cases: [Buffer | string, string, number, string][] = [
      [bytes, 'application/octet-stream', 415, 'NOT_A_VIDEO'],
      [Buffer.alloc(0), 'video/mp4', 400, 'EMPTY_UPLOAD'],
      ['just some text\n'.repeat(50), 'video/mp4', 415, 'NOT_A_VIDEO'],
    ];
    for (const [body, type, status, code] of cases) {
      const r = await fetch(`${server.url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': type } });
      const e = await json<ErrorBody>(r);
      assert.equal(r.status, status, e.error);
      assert.equal(e.code, code);
      assert.ok(!e.error.includes(server.uploads.path), `no server path in '${e.error}'`);
      assert.match(e.error, /^the upload: /);
    }
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'x.bin');
    const r = await fetch(`${server.url}/v1/predict`, { method: 'POST', body: form });
    assert.equal(r.status, 400);
    const noType = await rawRequest(`${server.url}/v1/predict`, { body: Buffer.from('abc'), headers: { 'content-type': 'text/plain' } });
    assert.equal(noType.status, 415);
    const badQuery = await fetch(`${server.url}/v1/predict?top=0`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'video/mp4' },
    });
    assert.equal(badQuery.status, 400);
    assert.deepEqual(await server.uploads.files(), []);
    assertNoFfmpegLeft();
  });

  it('playlists and indirections (HLS, concat, SDP) pointing at a loopback listener: 4xx, and the listener sees no connection', async () => {
    let connections = 0;
    const listener = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      const bodies = [
        `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:${port}/seg.ts\n#EXT-X-ENDLIST\n`,
        `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://127.0.0.1:${port}/v.m3u8\n`,
        `ffconcat version 1.0\nfile 'http://127.0.0.1:${port}/a.mp4'\nfile '${ASL[0]}'\n`,
        `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${port} RTP/AVP 96\na=rtpmap:96 H264/90000\n`,
      ];
      for (const body of bodies) {
        for (const type of ['video/mp4', 'application/octet-stream']) {
          const r = await fetch(`${server.url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': type } });
          const e = await json<ErrorBody>(r);
          assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${e.error}`);
        }
        // The same through OIP's BYTES input.
        const len = Buffer.alloc(4);
        len.writeUInt32LE(Buffer.byteLength(body));
        const bin = binaryBody(
          { inputs: [{ name: 'video', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: Buffer.byteLength(body) + 4 } }] },
          len,
          Buffer.from(body),
        );
        const r = await rawRequest(`${server.url}/v2/models/tiny/infer`, {
          headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': bin.headerLength },
          body: bin.body,
        });
        assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body.toString()}`);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(connections, 0, 'the loopback listener was connected to');
    } finally {
      listener.close();
    }
    assertNoFfmpegLeft();
    assert.deepEqual(await server.uploads.files(), []);
  });

  it('413: a Content-Length over the limit before the body is read; a chunked body as soon as it passes the limit', async () => {
    const declared = await rawRequest(`${server.url}/v1/predict`, {
      headers: { 'content-type': 'video/mp4', 'content-length': 50 << 20 },
      body: (async function* () {
        yield Buffer.alloc(1024);
        await new Promise((r) => setTimeout(r, 2000)); // the answer comes before the body does
      })(),
    });
    assert.equal(declared.status, 413);
    assert.equal((JSON.parse(declared.body.toString()) as ErrorBody).code, 'PAYLOAD_TOO_LARGE');
    const total = 40 << 20;
    const chunked = await rawRequest(`${server.url}/v1/predict`, {
      headers: { 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' },
      body: (async function* () {
        for (let sent = 0; sent < total; sent += 64 << 10) yield Buffer.alloc(64 << 10, 7);
      })(),
    });
    assert.equal(chunked.status, 413);
    assert.ok(chunked.bytesSent < total / 2, `the answer came after ${chunked.bytesSent} of ${total} bytes`);
    const form = new FormData();
    form.append('video', new Blob([Buffer.alloc(MAX_UPLOAD + 1000)]), 'big.mp4');
    const mp = await fetch(`${server.url}/v1/predict`, { method: 'POST', body: form });
    assert.equal(mp.status, 413);
    const oip = await fetch(`${server.url}/v2/models/tiny/infer`, {
      method: 'POST',
      body: Buffer.alloc(MAX_UPLOAD + (2 << 20)),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(oip.status, 413);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await server.uploads.files(), []);
  });
});

describe('queue, limits and cancellation', () => {
  it('a flood beyond the queue: only 200 or 429 with Retry-After; no ffmpeg or temporary file left', async () => {
    const video = readFileSync(ASL[7]!);
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const r = await fetch(`${server.url}/v1/predict`, { method: 'POST', body: video, headers: { 'content-type': 'video/x-matroska' } });
        if (r.status === 429) {
          assert.equal(r.headers.get('retry-after'), '1');
          assert.equal((await json<ErrorBody>(r)).code, 'QUEUE_FULL');
        } else await r.arrayBuffer();
        return r.status;
      }),
    );
    assert.ok(
      statuses.every((s) => s === 200 || s === 429),
      `statuses ${statuses.join(' ')}`,
    );
    assert.ok(statuses.filter((s) => s === 429).length >= 1, `statuses ${statuses.join(' ')}`);
    assert.ok(statuses.filter((s) => s === 200).length >= 2, `statuses ${statuses.join(' ')}`);
    assertNoFfmpegLeft();
    assert.deepEqual(await server.uploads.files(), []);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /i3d_rejected_total\{model="tiny",reason="queue_full"\} [1-9]/);
  });

  it('a client that disconnects cancels its work: its ffmpeg is killed and its file removed', async () => {
    const ctl = new AbortController();
    const p = fetch(`${server.url}/v1/predict?window=0.5`, {
      method: 'POST',
      body: readFileSync(BOTTLE),
      headers: { 'content-type': 'video/mp4' },
      signal: ctl.signal,
    });
    // Hang up as soon as ffprobe or ffmpeg runs on the upload (decoding this 40 s video takes seconds).
    for (let i = 0; i < 2000 && liveProcesses().length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(liveProcesses().length > 0, 'ffmpeg never ran');
    ctl.abort();
    await assert.rejects(p);
    for (let i = 0; i < 100 && ((await server.uploads.files()).length || server.models()[0]!.scheduler.admitted); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await server.uploads.files(), []);
    assert.equal(server.models()[0]!.scheduler.admitted, 0);
    assertNoFfmpegLeft();
    const r = await fetch(`${server.url}/v2/health/ready`);
    assert.equal(r.status, 200);
  });

  it('metrics: requests by route and status, latency histograms, queue, load time', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const re of [
      /i3d_http_requests_total\{route="\/v1\/predict",method="POST",status="200"\} \d+/,
      /i3d_http_requests_total\{route="\/v2\/models\/:name\/infer",method="POST",status="400"\} \d+/,
      /i3d_queue_wait_seconds_bucket\{le="0.005",model="tiny"\} \d+/,
      /i3d_decode_seconds_count\{model="tiny"\} [1-9]/,
      /i3d_model_seconds_sum\{model="tiny"\} /,
      /i3d_queue_depth\{model="tiny"\} 0/,
      /i3d_in_flight\{model="tiny"\} 0/,
      /i3d_model_load_seconds\{model="tiny"\} [0-9.]+/,
      /i3d_rejected_total\{model="tiny",reason="too_large"\} [1-9]/,
      /i3d_process_resident_memory_bytes \d+/,
      /i3d_ready 1/,
    ])
      assert.match(text, re);
  });
});

describe('a second server: time limit, API key', () => {
  let s2: I3DServer;
  before(async () => {
    s2 = await startServer({
      models: [{ name: 'tiny', source: modelDir }],
      port: 0,
      size: 64,
      resize: 72,
      timeoutSec: 0.25,
      apiKey: 'sesame',
      tmpDir: tmp.dir,
    });
    await s2.loaded;
  });
  after(async () => {
    await s2?.close();
  });

  it('without the key: 401 on every route but health and the page', async () => {
    assert.equal((await fetch(`${s2.url}/v2/health/ready`)).status, 200);
    assert.equal((await fetch(`${s2.url}/`)).status, 200);
    for (const path of ['/v2', '/v2/models/tiny', '/metrics', '/v1/models']) {
      const r = await fetch(`${s2.url}${path}`);
      assert.equal(r.status, 401, path);
      assert.equal((await json<ErrorBody>(r)).code, 'UNAUTHORIZED');
      assert.equal((await fetch(`${s2.url}${path}`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);
      assert.equal((await fetch(`${s2.url}${path}`, { headers: { authorization: 'Bearer sesame' } })).status, 200, path);
    }
  });

  it('the per-request time limit: 504, its ffmpeg killed, its file removed', async () => {
    const r = await fetch(`${s2.url}/v1/predict`, {
      method: 'POST',
      body: readFileSync(BOTTLE),
      headers: { 'content-type': 'video/mp4', authorization: 'Bearer sesame' },
    });
    const e = await json<ErrorBody>(r);
    assert.equal(r.status, 504, e.error);
    assert.equal(e.code, 'TIMEOUT');
    for (let i = 0; i < 50 && (await s2.uploads.files()).length; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(await s2.uploads.files(), []);
    assertNoFfmpegLeft();
  });

  it('close(): state closing, then the upload folder is removed', async () => {
    const closed = s2.close();
    assert.equal(s2.state(), 'closing');
    await closed;
    assert.deepEqual(await s2.uploads.files(), []);
  });
});

describe('two-stream models (--flow-model)', () => {
  it('/v1/predict adds the flow stream computed from the upload: the logits of `i3d predict --flow-weights`; OIP takes clip + flow or a video', async () => {
    const flowDir = saveTinyFlowModel(tmp.dir);
    const two = await startServer({
      models: [{ name: 'two', source: modelDir }],
      flowModels: [{ name: 'two', source: flowDir }],
      port: 0,
      size: 64,
      resize: 72,
      tmpDir: tmp.dir,
    });
    try {
      await two.loaded;
      const r = await runCli([
        'predict',
        ASL[1]!,
        '--weights',
        modelDir,
        '--flow-weights',
        flowDir,
        '--size',
        '64',
        '--resize',
        '72',
        '--json',
      ]);
      assert.equal(r.status, 0, r.stderr);
      const cli = JSON.parse(r.stdout) as { logits: number[] };
      const video = readFileSync(ASL[1]!);
      const res = await fetch(`${two.url}/v1/predict?model=two&top=6`, {
        method: 'POST',
        body: video,
        headers: { 'content-type': 'video/x-matroska' },
      });
      assert.equal(res.status, 200);
      const got = new Array<number>(6);
      for (const t of (await json<{ top: { index: number; logit: number }[] }>(res)).top) got[t.index] = t.logit;
      relClose(got, cli.logits, 1e-5, 'two-stream served vs CLI logits');
      // The OIP video input (base64 in JSON) gives the same; the metadata lists the flow input; a clip without its flow is refused.
      const meta = await json<{ inputs: { name: string }[] }>(await fetch(`${two.url}/v2/models/two`));
      assert.deepEqual(
        meta.inputs.map((i) => i.name),
        ['clip', 'flow', 'video'],
      );
      const oip = await fetch(`${two.url}/v2/models/two/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'video', datatype: 'BYTES', shape: [1], data: [video.toString('base64')] }] }),
      });
      assert.equal(oip.status, 200);
      const logits = (await json<{ outputs: { name: string; data: number[] }[] }>(oip)).outputs.find((o) => o.name === 'logits')!.data;
      relClose(logits, cli.logits, 1e-5, 'two-stream OIP video (base64 JSON) vs CLI logits');
      const clip = smallClip(3);
      const lone = await fetch(`${two.url}/v2/models/two/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: clip.shape, data: Array.from(clip.data) }] }),
      });
      assert.equal(lone.status, 400);
      assert.match((await json<ErrorBody>(lone)).error, /give 'clip' and 'flow' \(FP32\), or 'video' \(BYTES\)/);
      // clip + flow: the RGB model's logits plus the flow model's, each as the single-stream servers give them.
      const flowData = Float32Array.from(clip.data.subarray(0, (clip.data.length / 3) * 2), (v) => v * 0.5);
      const flowShape = [clip.shape[0], clip.shape[1], clip.shape[2], clip.shape[3], 2];
      const both = await fetch(`${two.url}/v2/models/two/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: [
            { name: 'clip', datatype: 'FP32', shape: clip.shape, data: Array.from(clip.data) },
            { name: 'flow', datatype: 'FP32', shape: flowShape, data: Array.from(flowData) },
          ],
        }),
      });
      assert.equal(both.status, 200);
      const sum = (await json<{ outputs: { name: string; data: number[] }[] }>(both)).outputs.find((o) => o.name === 'logits')!.data;
      const rgbOnly = await fetch(`${server.url}/v2/models/tiny/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: clip.shape, data: Array.from(clip.data) }] }),
      });
      const rgbLogits = (await json<{ outputs: { name: string; data: number[] }[] }>(rgbOnly)).outputs.find(
        (o) => o.name === 'logits',
      )!.data;
      const flowOnly = await startServer({ models: [{ name: 'f', source: flowDir }], port: 0, size: 64, resize: 72, tmpDir: tmp.dir });
      try {
        await flowOnly.loaded;
        const fr = await fetch(`${flowOnly.url}/v2/models/f/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'clip', datatype: 'FP32', shape: flowShape, data: Array.from(flowData) }] }),
        });
        const flowLogits = (await json<{ outputs: { name: string; data: number[] }[] }>(fr)).outputs.find((o) => o.name === 'logits')!.data;
        relClose(
          sum,
          rgbLogits.map((v, i) => v + flowLogits[i]!),
          1e-5,
          'clip + flow logits vs the sum of both streams',
        );
      } finally {
        await flowOnly.close();
      }
      assert.deepEqual(await two.uploads.files(), []);
    } finally {
      await two.close();
    }
  });
});
