// Downloads and the model zoo against a local HTTP server: progress, resume with Range, checksums, the cache,
// mirrors, the offline error, concurrent fetches of one file, and no recorded checksum for a download of unknown size.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { download, DownloadError, kinetics400LabelsFile, KINETICS_400_LABELS, readLabels, resolveWeights, ZOO } from '../src/index.js';
import { SHARED } from './helpers.js';

const BODY = randomBytes(300_000);
const LABELS = readFileSync(join(SHARED, 'data/kinetics-i3d/label_map.txt'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: Server;
let base = '';
const requests: { url: string; range?: string }[] = [];
/** Paths the server serves; `/cut/...` closes the connection halfway through. */
const files = new Map<string, Buffer>();

before(async () => {
  files.set('/blob.bin', BODY);
  files.set('/label_map.txt', LABELS);
  files.set('/kinetics400_label_map.txt', LABELS);
  files.set(`/${ZOO.get('rgb_kinetics_only_no_top')!.fileName}`, BODY);
  server = createServer((req: IncomingMessage, res) => {
    const url = req.url ?? '';
    requests.push({ url, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const cut = url.startsWith('/cut/');
    const unsized = url.startsWith('/unsized/'); // no Content-Length: the size is unknown until the end
    const body = files.get(cut ? url.slice(4) : unsized ? url.slice(8) : url);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= body.length) {
      res.writeHead(416).end();
      return;
    }
    const headers = {
      ...(unsized ? {} : { 'content-length': String(body.length - start) }),
      'content-type': 'application/octet-stream',
    };
    if (m) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, headers);
    if (cut) {
      res.write(body.subarray(start, start + Math.floor((body.length - start) / 2)));
      setTimeout(() => res.destroy(), 50);
    } else res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const tmp = () => mkdtempSync(join(tmpdir(), 'i3d-zoo-'));

/** A local port nothing listens on (a refused connection, like a machine without network). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('download streams to the file with progress and reports the SHA-256', async () => {
  const dir = tmp();
  const seen: number[] = [];
  const r = await download(`${base}/blob.bin`, join(dir, 'blob.bin'), { sha256: sha(BODY), onProgress: (p) => seen.push(p.received) });
  assert.deepEqual(readFileSync(join(dir, 'blob.bin')), BODY);
  assert.equal(r.sha256, sha(BODY));
  assert.equal(r.bytes, BODY.length);
  assert.equal(seen.at(-1), BODY.length);
  assert.ok(seen.length >= 2, 'progress reported as data arrives');
  assert.ok(!existsSync(join(dir, 'blob.bin.part')));
  rmSync(dir, { recursive: true });
});

test('an interrupted download keeps its part and the next call resumes it with a Range request', async () => {
  const dir = tmp();
  const file = join(dir, 'blob.bin');
  files.set('/cut2.bin', BODY);
  await assert.rejects(
    download(`${base}/cut/cut2.bin`, file, { sha256: sha(BODY) }),
    (e: unknown) => e instanceof DownloadError && /run again to resume/.test(e.message) && e.url.endsWith('/cut/cut2.bin'),
  );
  assert.ok(!existsSync(file), 'no half file under the final name');
  const partial = statSync(`${file}.part`).size;
  assert.ok(partial > 0 && partial < BODY.length, `part has ${partial} bytes`);
  requests.length = 0;
  const r = await download(`${base}/cut2.bin`, file, { sha256: sha(BODY) });
  assert.equal(requests[0]?.range, `bytes=${partial}-`, 'resumed where it stopped');
  assert.equal(r.resumedFrom, partial);
  assert.deepEqual(readFileSync(file), BODY, 'the resumed file is whole and verified');
  rmSync(dir, { recursive: true });
});

test('a checksum mismatch fails, deletes the partial file and leaves nothing under the final name', async () => {
  const dir = tmp();
  const file = join(dir, 'blob.bin');
  await assert.rejects(
    download(`${base}/blob.bin`, file, { sha256: '0'.repeat(64) }),
    /checksum mismatch: SHA-256 [0-9a-f]{64}, expected 0{64}/,
  );
  assert.ok(!existsSync(file) && !existsSync(`${file}.part`));
  rmSync(dir, { recursive: true });
});

test('HTTP errors and unreachable servers name the URL', async () => {
  const dir = tmp();
  await assert.rejects(
    download(`${base}/missing.bin`, join(dir, 'x')),
    /download of http:\/\/127\.0\.0\.1:\d+\/missing\.bin failed: HTTP 404/,
  );
  const port = await closedPort();
  await assert.rejects(download(`http://127.0.0.1:${port}/x.bin`, join(dir, 'x')), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.message, `download of http://127.0.0.1:${port}/x.bin failed: ECONNREFUSED`);
    return true;
  });
  rmSync(dir, { recursive: true });
});

test('every official zoo name resolves to its v0.2 release URL, with and without top', () => {
  for (const s of ['rgb', 'flow'])
    for (const p of ['imagenet_and_kinetics', 'kinetics_only'])
      for (const top of [true, false]) {
        const e = ZOO.get(`${s}_${p}${top ? '' : '_no_top'}`);
        assert.ok(e, `${s}_${p}`);
        assert.equal(
          e.url,
          `https://github.com/dlpbc/keras-kinetics-i3d/releases/download/v0.2/${s}_inception_i3d_${p}_tf_dim_ordering_tf_kernels${top ? '' : '_no_top'}.h5`,
        );
        assert.equal(e.stream, s);
        assert.equal(e.includeTop, top);
      }
  assert.equal(ZOO.size, 8);
});

/** Runs `fn` with the given environment variables set, restoring them after. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

test('a zoo name downloads once into the cache, records its SHA-256 and verifies it on every later use', async () => {
  const cache = tmp();
  await withEnv({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: base, I3D_OFFLINE: undefined }, async () => {
    const name = 'rgb_kinetics_only_no_top';
    const names: string[] = [];
    const path = await resolveWeights(name, { onProgress: (n) => names.push(n) });
    assert.equal(path, join(cache, 'zoo', ZOO.get(name)!.fileName));
    assert.deepEqual(readFileSync(path), BODY);
    assert.equal(readFileSync(`${path}.sha256`, 'utf8').trim(), sha(BODY));
    assert.ok(names.length > 0 && names.every((n) => n === name));
    requests.length = 0;
    assert.equal(await resolveWeights(name), path);
    assert.equal(requests.length, 0, 'the second use reads the cache');
    const tampered = Buffer.from(BODY);
    tampered[1000] ^= 1;
    writeFileSync(path, tampered);
    await assert.rejects(resolveWeights(name), /SHA-256 [0-9a-f]{64} differs from [0-9a-f]{64} \(recorded at download\).*delete it/);
  });
  rmSync(cache, { recursive: true });
});

test('offline, a zoo name that is not cached fails naming the URL, the expected file and --weights', async () => {
  const cache = tmp();
  await withEnv({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: undefined, I3D_OFFLINE: '1' }, async () => {
    await assert.rejects(resolveWeights('flow_imagenet_and_kinetics'), (e: unknown) => {
      const m = (e as Error).message;
      assert.match(m, /flow_imagenet_and_kinetics is not in the cache/);
      assert.match(m, /flow_inception_i3d_imagenet_and_kinetics_tf_dim_ordering_tf_kernels\.h5/);
      assert.match(m, /https:\/\/github\.com\/dlpbc\/keras-kinetics-i3d\/releases\/download\/v0\.2\//);
      assert.match(m, /--weights <path>/);
      return true;
    });
  });
  // Online but unreachable: the same help, after the network's reason.
  await withEnv({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: `http://127.0.0.1:${await closedPort()}`, I3D_OFFLINE: undefined }, async () => {
    await assert.rejects(
      resolveWeights('rgb_imagenet_and_kinetics'),
      /ECONNREFUSED.*Expected file: rgb_inception_i3d_imagenet_and_kinetics_tf_dim_ordering_tf_kernels\.h5.*--weights <path>/s,
    );
  });
  await assert.rejects(
    resolveWeights('rgb_imagenet'),
    /rgb_imagenet: neither a file, a checkpoint nor a model-zoo name \(zoo: rgb_imagenet_and_kinetics, /,
  );
  rmSync(cache, { recursive: true });
});

test('the Kinetics-400 label map is fetched like the weights and checked against the official SHA-256', async () => {
  assert.equal(sha(LABELS), KINETICS_400_LABELS.sha256, 'the pinned checksum is that of the official file');
  const cache = tmp();
  await withEnv({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: base, I3D_OFFLINE: undefined }, async () => {
    const path = await kinetics400LabelsFile();
    const labels = readLabels(path);
    assert.equal(labels.length, 400);
    assert.equal(labels[0], 'abseiling');
    assert.equal(labels.indexOf('playing cricket') >= 0, true);
    rmSync(path);
    files.set('/kinetics400_label_map.txt', Buffer.concat([LABELS, Buffer.from('extra\n')]));
    await assert.rejects(kinetics400LabelsFile(), /checksum mismatch/);
    files.set('/kinetics400_label_map.txt', LABELS);
  });
  rmSync(cache, { recursive: true });
});

test('concurrent fetches of one zoo file download it once; a download of unknown size is used but records no checksum', async () => {
  const cache = tmp();
  const name = 'rgb_kinetics_only_no_top';
  await withEnv({ I3D_CACHE_DIR: cache, I3D_ZOO_MIRROR: base, I3D_OFFLINE: undefined }, async () => {
    requests.length = 0;
    const paths = await Promise.all([resolveWeights(name), resolveWeights(name), resolveWeights(name)]);
    assert.deepEqual(new Set(paths).size, 1);
    assert.equal(requests.length, 1, 'one download; the others waited for it and read the cache');
    assert.deepEqual(readFileSync(paths[0]!), BODY);
    assert.equal(readFileSync(`${paths[0]!}.sha256`, 'utf8').trim(), sha(BODY));
    assert.deepEqual(
      readdirSync(join(cache, 'zoo')).filter((f) => !f.startsWith(ZOO.get(name)!.fileName) || /\.(part|lock|tmp)/.test(f)),
      [],
      'no part, lock or temporary file left',
    );
  });
  rmSync(cache, { recursive: true });
  const unsized = tmp();
  await withEnv({ I3D_CACHE_DIR: unsized, I3D_ZOO_MIRROR: `${base}/unsized`, I3D_OFFLINE: undefined }, async () => {
    const path = await resolveWeights(name);
    assert.deepEqual(readFileSync(path), BODY);
    assert.ok(!existsSync(`${path}.sha256`), 'a download whose size the server did not state is not a reference');
  });
  const r = await download(`${base}/unsized/blob.bin`, join(unsized, 'blob.bin'));
  assert.equal(r.verified, false);
  assert.equal((await download(`${base}/blob.bin`, join(unsized, 'blob2.bin'))).verified, true);
  rmSync(unsized, { recursive: true });
});
