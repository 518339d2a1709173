// Prometheus metrics of one server (its own registry, so several servers in one process do not mix).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServedModel } from './models.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestSeconds: Histogram<'route'>;
  readonly queueWaitSeconds: Histogram<'model'>;
  readonly decodeSeconds: Histogram<'model'>;
  readonly modelSeconds: Histogram<'model'>;
  readonly rejected: Counter<'model' | 'reason'>;
  readonly modelLoadSeconds: Gauge<'model'>;

  constructor(models: () => readonly ServedModel[], ready: () => boolean) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'i3d_' });
    this.requests = new Counter({
      name: 'i3d_http_requests_total',
      help: 'HTTP requests by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'i3d_http_request_duration_seconds',
      help: 'Time from request to response, by route pattern',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'i3d_queue_wait_seconds',
      help: 'Time a request waited for a model slot',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.decodeSeconds = new Histogram({
      name: 'i3d_decode_seconds',
      help: 'Time to decode and preprocess an uploaded video (or to parse a tensor)',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.modelSeconds = new Histogram({
      name: 'i3d_model_seconds',
      help: 'Time the model ran on a request',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.rejected = new Counter({
      name: 'i3d_rejected_total',
      help: 'Requests refused before running: queue_full (429), not_ready or shutting_down (503), too_large (413)',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.modelLoadSeconds = new Gauge({
      name: 'i3d_model_load_seconds',
      help: 'Seconds a model took to load and warm up at start',
      labelNames: ['model'],
      registers,
    });
    new Gauge({
      name: 'i3d_queue_depth',
      help: 'Requests waiting for a model slot',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.name }, m.scheduler.waiting);
      },
    });
    new Gauge({
      name: 'i3d_in_flight',
      help: 'Requests admitted and not finished (uploading, decoding, waiting or running)',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.name }, m.scheduler.admitted);
      },
    });
    new Gauge({
      name: 'i3d_running',
      help: 'Requests running on a model slot',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.name }, m.scheduler.running);
      },
    });
    new Gauge({
      name: 'i3d_ready',
      help: '1 when the server is ready (models loaded and warmed up, not shutting down)',
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
  }
}
