// `i3d serve` as its own process: the command line, memory under an oversized upload, SIGTERM during a request.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runCli } from './helpers.js';
import { memoryKb, rawRequest, saveTinyModel, startChildServer, type ChildServer } from './serve-fixtures.js';
import { ASL, tempDir } from './video-fixtures.js';

const tmp = tempDir('i3d-serve-proc-');
let modelDir = '';
const servers: ChildServer[] = [];

before(() => {
  modelDir = saveTinyModel(tmp.dir);
});

after(() => {
  for (const s of servers) s.kill();
  tmp.remove();
});

describe('i3d serve (process)', () => {
  it('refuses bad options with a message naming them', async () => {
    const none = await runCli(['serve', '--port', '0']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /--model/);
    const badName = await runCli(['serve', '--model', 'a/b=random']);
    assert.equal(badName.status, 2);
    assert.match(badName.stderr, /name 'a\/b'/);
    const threads = await runCli(['--threads', '64', 'serve', '--model', 'random', '--workers', '4', '--port', '0']);
    assert.equal(threads.status, 2);
    assert.match(threads.stderr, /--workers 4 x --threads 64/);
    const missing = await runCli(['serve', '--model', `${tmp.dir}/nothing-here`, '--port', '0']);
    assert.equal(missing.status, 4);
    assert.match(missing.stderr, /nothing-here/);
    const unnamed = await runCli(['serve', '--model', 'random', '--flow-model', 'random', '--port', '0']);
    assert.equal(unnamed.status, 2);
    assert.match(unnamed.stderr, /--flow-model 'random': give NAME=PATH/);
    const unpaired = await runCli(['serve', '--model', 'a=random', '--flow-model', 'b=random', '--port', '0']);
    assert.equal(unpaired.status, 2);
    assert.match(unpaired.stderr, /--flow-model b=random: no --model named 'b' \(a\)/);
  });

  it("an oversized upload gets 413 while the server's memory does not grow by the upload's size", async () => {
    const s = await startChildServer(['--model', `tiny=${modelDir}`, '--max-upload-mb', '1', '--size', '64', '--resize', '72']);
    servers.push(s);
    const pid = s.proc.pid!;
    const read = (p: string) => readFileSync(p, 'utf8');
    // Reset the peak resident size (VmHWM) to the current one, so the peak below is this upload's.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const before = memoryKb(pid, read);
    const total = 256 << 20;
    const chunk = Buffer.alloc(256 << 10, 1);
    const r = await rawRequest(`${s.url}/v1/predict`, {
      headers: { 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' },
      body: (async function* () {
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      })(),
    });
    assert.equal(r.status, 413, r.body.toString());
    assert.ok(r.bytesSent < 64 << 20, `the 413 came after ${r.bytesSent >> 20} MiB of a 1 MiB limit`);
    const afterUpload = memoryKb(pid, read);
    const growthMiB = (afterUpload.hwm - before.rss) / 1024;
    assert.ok(growthMiB < 64, `peak resident memory grew by ${growthMiB.toFixed(0)} MiB while ${r.bytesSent >> 20} MiB were sent`);
    // A declared Content-Length over the limit: 413 before the body is read.
    const declared = await rawRequest(`${s.url}/v1/predict`, {
      headers: { 'content-type': 'video/mp4', 'content-length': 1 << 30 },
      body: (async function* () {
        yield chunk;
        await new Promise((res) => setTimeout(res, 1000));
      })(),
    });
    assert.equal(declared.status, 413);
    assert.ok((memoryKb(pid, read).hwm - before.rss) / 1024 < 64);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  it('SIGTERM during a request: the request completes, then the process exits 0', async () => {
    const s = await startChildServer(['--model', `tiny=${modelDir}`, '--size', '64', '--resize', '72']);
    servers.push(s);
    const video = readFileSync(ASL[2]!);
    const pending = fetch(`${s.url}/v1/predict?window=1`, { method: 'POST', body: video, headers: { 'content-type': 'video/x-matroska' } });
    // Signal once the request is being worked on (in flight on the server).
    for (let i = 0; i < 200; i++) {
      const m = await (await fetch(`${s.url}/metrics`)).text();
      if (/i3d_in_flight\{model="tiny"\} 1/.test(m)) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    s.proc.kill('SIGTERM');
    const r = await pending;
    assert.equal(r.status, 200);
    const body = (await r.json()) as { top: unknown[]; windows: unknown[] };
    assert.equal(body.top.length, 5);
    assert.ok(body.windows.length >= 3);
    assert.equal(await s.exited, 0, s.stderr());
    assert.match(s.stderr(), /SIGTERM: finishing the requests in flight/);
    // After the exit nothing listens any more.
    await assert.rejects(fetch(`${s.url}/v2/health/live`));
  });
});
