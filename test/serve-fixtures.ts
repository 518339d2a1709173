// Fixtures of the `i3d serve` tests: a small saved model, a clip, the server as a child process, raw HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { I3D, manualSeed, saveModel } from '../src/index.js';
import { BIN } from './helpers.js';

export const LABELS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];

/** A random full-width I3D of 6 classes saved as a model folder (the fused path runs it, as it would the official one). */
export function saveTinyModel(dir: string): string {
  manualSeed(7);
  const model = new I3D({ classes: LABELS.length }).eval();
  try {
    saveModel(model, join(dir, 'tiny'), { labels: LABELS });
  } finally {
    model.dispose();
  }
  return join(dir, 'tiny');
}

/** The flow stream's partner of saveTinyModel (two-stream serving): a random full-width flow I3D of the same classes. */
export function saveTinyFlowModel(dir: string): string {
  manualSeed(8);
  const model = new I3D({ stream: 'flow', classes: LABELS.length }).eval();
  try {
    saveModel(model, join(dir, 'tinyflow'), { labels: LABELS });
  } finally {
    model.dispose();
  }
  return join(dir, 'tinyflow');
}

/** A clip [1, 8, 32, 32, 3] of smooth values in [-1, 1]. */
export function smallClip(seed = 1, frames = 8, size = 32): { data: Float32Array; shape: [number, number, number, number, number] } {
  const shape: [number, number, number, number, number] = [1, frames, size, size, 3];
  const data = new Float32Array(frames * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001 * seed + seed) * 0.9;
  return { data, shape };
}

export interface ChildServer {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Kills it (SIGKILL) if still running. */
  kill(): void;
}

/** Starts `i3d serve args...` on a free loopback port and resolves once it prints that it is ready. */
export function startChildServer(args: readonly string[]): Promise<ChildServer> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, '--threads', '1', 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`i3d serve did not get ready in 60 s: ${err}`));
    }, 60_000);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      const { url } = JSON.parse(line) as { url: string };
      resolve({
        proc,
        url,
        stderr: () => err,
        exited,
        kill: () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`i3d serve exited with ${code} before it was ready: ${err}`));
    });
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with full control of headers and body (a Buffer, or chunks written one by one). */
export function rawRequest(
  url: string,
  o: { method?: string; headers?: Record<string, string | number>; body?: Buffer | AsyncIterable<Buffer> } = {},
): Promise<RawResponse & { bytesSent: number }> {
  return new Promise((resolve, reject) => {
    let bytesSent = 0;
    let responded = false;
    const req = http.request(url, { method: o.method ?? 'POST', headers: o.headers ?? {} }, (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), bytesSent }));
      res.on('error', reject);
    });
    req.on('error', (e) => {
      if (!responded) reject(e);
    });
    const body = o.body;
    if (!body) req.end();
    else if (Buffer.isBuffer(body)) {
      bytesSent = body.length;
      req.end(body);
    } else
      void (async () => {
        try {
          for await (const chunk of body) {
            if (responded || req.destroyed) break;
            bytesSent += chunk.length;
            if (!req.write(chunk))
              await new Promise<void>((r) => {
                const done = () => {
                  req.off('drain', done).off('close', done);
                  r();
                };
                req.once('drain', done).once('close', done);
              });
          }
          if (!responded && !req.destroyed) req.end();
        } catch {
          // the server closed the connection after answering
        }
      })();
  });
}

/** Resident memory (kB) of a process: now and the peak since the last reset. */
export function memoryKb(pid: number, readFile: (p: string) => string): { rss: number; hwm: number } {
  const s = readFile(`/proc/${pid}/status`);
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}
