// `i3d serve`: the HTTP inference service (Open Inference Protocol v2, /v1/predict, /metrics, the web page).
import { availableParallelism } from 'node:os';
import closeWithGrace from 'close-with-grace';
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_MAX_MEMORY, MB } from '../../inference/memory-budget.js';
import { getNumThreads, setNumThreads } from '../../tensor/runtime.js';
import { parseModelSpec, type ModelSpec } from '../../serve/models.js';
import { startServer } from '../../serve/app.js';
import type { Precision } from '../../tensor/plan.js';
import { nonNegativeInt, positiveInt, positiveSeconds, precision } from '../options.js';
import { I3DError, exitCodeOf } from '../../core/errors.js';

interface ServeFlags {
  model: ModelSpec[];
  flowModel: ModelSpec[];
  host: string;
  port: number;
  workers: number;
  maxQueue: number;
  maxUploadMb: number;
  timeoutS: number;
  precision: Precision;
  eager?: boolean;
  size: number;
  resize: number;
  maxDurationS: number;
  maxMemory?: number;
  apiKey?: string;
  graceS: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`--port must be an integer in [0, 65535], got '${value}'.`);
  return n;
}

/** Collects repeated --model (or, named, --flow-model) values as model specs, refusing a bad one by name. */
function modelSpecs(namedOption?: string) {
  return (v: string, prev: ModelSpec[]): ModelSpec[] => {
    if (namedOption && v.indexOf('=') <= 0)
      throw new InvalidArgumentError(`${namedOption} '${v}': give NAME=PATH, NAME being a --model's name`);
    try {
      return [...prev, parseModelSpec(v)];
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve models over HTTP: Open Inference Protocol v2, POST /v1/predict for video uploads, /metrics, a web page at /')
    .option(
      '--model <[name=]path>',
      "a model folder, weights file, zoo name or 'random'; NAME= names it (default: the folder's base name or the zoo name); repeat for several",
      modelSpecs(),
      [] as ModelSpec[],
    )
    .option(
      '--flow-model <name=path>',
      'two-stream: a flow model for the served RGB model NAME (its logits are added, the flow computed from each video); repeat for several',
      modelSpecs('--flow-model'),
      [] as ModelSpec[],
    )
    .option(
      '--host <address>',
      'address to bind (anything but loopback is reachable by others: the service has no authentication unless --api-key)',
      '127.0.0.1',
    )
    .option('--port <n>', 'port (0: any free port)', port, 8080)
    .option(
      '--workers <n>',
      'model instances per model: requests that run at once (each takes --threads threads)',
      positiveInt('--workers'),
      1,
    )
    .option('--max-queue <n>', 'requests that may wait per model beyond those running; more get 429', nonNegativeInt('--max-queue'), 8)
    .option('--max-upload-mb <n>', 'largest upload or request body, MiB (413 beyond)', positiveInt('--max-upload-mb'), 512)
    .option('--timeout-s <s>', 'time limit of one request, seconds (504 beyond; its ffmpeg is killed)', positiveSeconds('--timeout-s'), 300)
    .option('--precision <p>', 'fp32 or bf16 (bf16: CPUs with AVX512-BF16)', precision, 'fp32')
    .option('--eager', 'run the eager ops instead of the fused inference path')
    .option('--size <px>', 'video input: crop side', positiveInt('--size'), 224)
    .option('--resize <px>', 'video input: shorter side before the centre crop', positiveInt('--resize'), 256)
    .option('--max-duration-s <s>', 'longest video accepted, seconds (422 beyond)', positiveSeconds('--max-duration-s'), 600)
    .option(
      '--max-memory <MB>',
      `memory for one request's whole-video inference in MB (each of --workers): the video runs in overlapping chunks that fit, same result as one pass (default ${DEFAULT_MAX_MEMORY / MB})`,
      positiveInt('--max-memory'),
    )
    .option('--api-key <key>', 'require Authorization: Bearer <key> on every route but health and the page (or $I3D_API_KEY)')
    .option(
      '--grace-s <s>',
      'on SIGTERM/SIGINT: longest wait for requests in flight before exiting anyway',
      positiveSeconds('--grace-s'),
      30,
    )
    .addHelpText(
      'after',
      '\nThreads: the global --threads N (default: all cores divided by --workers); workers x threads may not exceed the cores.\nExample: i3d serve --model rgb=models/rgb --port 8080',
    )
    .action(async (o: ServeFlags, cmd: Command) => {
      if (!o.model.length)
        throw new I3DError(
          'I3D_USAGE',
          "serve: give at least one --model [name=]path (a model folder, weights file, zoo name or 'random')",
        );
      if (o.resize < o.size) throw new I3DError('I3D_USAGE', `serve: --resize (${o.resize}) must be at least --size (${o.size})`);
      for (const f of o.flowModel)
        if (!o.model.some((m) => m.name === f.name))
          throw new I3DError(
            'I3D_USAGE',
            `serve: --flow-model ${f.name}=${f.source}: no --model named '${f.name}' (${o.model.map((m) => m.name).join(', ')})`,
          );
      const cores = availableParallelism();
      const globalThreads = cmd.parent?.opts<{ threads?: number }>().threads;
      const threads = globalThreads ?? Math.max(1, Math.floor(cores / o.workers));
      if (o.workers * threads > cores)
        throw new I3DError(
          'I3D_USAGE',
          `serve: --workers ${o.workers} x --threads ${threads} = ${o.workers * threads} threads, more than the ${cores} cores (lower one of them)`,
        );
      setNumThreads(threads);
      const apiKey = o.apiKey ?? process.env.I3D_API_KEY;
      const log = (m: string) => process.stderr.write(`i3d serve: ${m}\n`);
      if (!LOOPBACK.has(o.host))
        log(
          `warning: listening on ${o.host}, reachable from other machines; ${apiKey ? 'requests need the API key' : 'the service has no authentication (set --api-key)'}`,
        );
      const server = await startServer({
        models: o.model,
        ...(o.flowModel.length ? { flowModels: o.flowModel } : {}),
        host: o.host,
        port: o.port,
        workers: o.workers,
        maxQueue: o.maxQueue,
        maxUploadBytes: o.maxUploadMb * (1 << 20),
        timeoutSec: o.timeoutS,
        precision: o.precision,
        ...(o.eager ? { engine: 'eager' as const } : {}),
        size: o.size,
        resize: o.resize,
        maxDurationSec: o.maxDurationS,
        ...(o.maxMemory ? { maxMemory: o.maxMemory * MB } : {}),
        ...(apiKey ? { apiKey } : {}),
        warn: (m) => log(`warning: ${m}`),
        log,
      });
      log(
        `listening on ${server.url} (loading ${o.model.length} model(s); ready at ${server.url}/v2/health/ready), ${o.workers} worker(s) x ${getNumThreads()} thread(s)`,
      );
      closeWithGrace({ delay: o.graceS * 1000 }, async ({ signal, err }) => {
        if (err) log(`error: ${err.message}`);
        else log(`${signal ?? 'close'}: finishing the requests in flight, then exiting`);
        await server.close();
      });
      try {
        await server.loaded;
      } catch (e) {
        log(`cannot load the models: ${(e as Error).message}`);
        await server.close();
        process.exit(exitCodeOf(e));
      }
      log(
        `ready: ${server
          .models()
          .map((m) => m.name)
          .join(', ')}`,
      );
      // Machine-readable line for scripts and tests: the URL once ready.
      process.stdout.write(`${JSON.stringify({ ready: true, url: server.url })}\n`);
    });
}
