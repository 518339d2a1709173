// What `i3d doctor` reports: the engine, the CPU's vector features, CUDA, ffmpeg and the Python peers.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { engineFacts, getNumThreads } from '../tensor/runtime.js';
import { onednnFacts } from '../tensor/plan.js';
import { cpuFeatures } from '../system/cpu.js';
import type { FusedPathReport } from '../inference/fused-report.js';
import { findPythonTorch } from '../system/python.js';

export interface DoctorReport {
  node: string;
  platform: string;
  cpu: { model: string; cores: number; features: Record<string, boolean> };
  libtorch: { version: string; threads: number; mkldnn: boolean; openmp: boolean };
  /** oneDNN (the fused inference path's kernels): version and the instruction set it uses here. */
  onednn: { version: string; isa: string; cap: string | null };
  /** The fused path on this CPU (filled in by the caller that can build a plan: see src/inference/fused-report.ts). */
  fused?: FusedPathReport;
  cuda: { available: boolean; devices: number };
  ffmpeg: string | null;
  ffprobe: string | null;
  pythonTorch: string | null;
}

/** First line of `cmd args`' output, or null when it cannot run. Never goes through a shell. */
function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return null;
  return r.stdout.split('\n')[0]?.trim() ?? null;
}

export function doctor(): DoctorReport {
  const f = engineFacts();
  const d = onednnFacts();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus()[0]?.model ?? 'unknown', cores: f.hardwareConcurrency, features: cpuFeatures() },
    libtorch: { version: f.torchVersion, threads: getNumThreads(), mkldnn: f.mkldnn, openmp: f.openmp },
    onednn: d,
    cuda: { available: f.cudaAvailable, devices: f.cudaDeviceCount },
    ffmpeg: firstLine('ffmpeg', ['-hide_banner', '-version']),
    ffprobe: firstLine('ffprobe', ['-hide_banner', '-version']),
    pythonTorch: ((p) => (p ? `${p.torch} (${p.python})` : null))(findPythonTorch()),
  };
}

export function formatDoctor(r: DoctorReport): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const feats = Object.entries(r.cpu.features)
    .filter(([, on]) => on)
    .map(([n]) => n);
  return [
    `node        ${r.node} (${r.platform})`,
    `cpu         ${r.cpu.model}, ${r.cpu.cores} cores`,
    `cpu features ${feats.length ? feats.join(' ') : 'none of note'}`,
    `libtorch    ${r.libtorch.version}, ${r.libtorch.threads} threads, oneDNN ${yes(r.libtorch.mkldnn)}, OpenMP ${yes(r.libtorch.openmp)}`,
    `oneDNN      ${r.onednn.version}, ISA ${r.onednn.isa}${r.onednn.cap ? ` (capped by ONEDNN_MAX_CPU_ISA=${r.onednn.cap})` : ''}`,
    ...(r.fused ? formatFused(r.fused) : []),
    `cuda        ${r.cuda.available ? `yes, ${r.cuda.devices} device(s)` : 'no'}`,
    `ffmpeg      ${r.ffmpeg ?? 'not found (sudo apt-get install ffmpeg)'}`,
    `ffprobe     ${r.ffprobe ?? 'not found (sudo apt-get install ffmpeg)'}`,
    `python3 torch ${r.pythonTorch ?? 'not found (optional: benchmarks compare against it; sudo apt-get install python3-torch)'}`,
  ].join('\n');
}

function formatFused(f: FusedPathReport): string[] {
  const kernels = Object.entries(f.kernels)
    .map(([k, n]) => `${k} x${n}`)
    .join(', ');
  return [
    f.engine === 'fused'
      ? `fused path  yes: ${f.layout}-channel blocks (nCdhw${f.layout}c), ${f.allJit ? 'every step on a jit kernel' : 'SOME STEPS ON REFERENCE KERNELS'}`
      : `fused path  no, the eager ops run inference: ${f.reason}`,
    ...(kernels ? [`  kernels   ${kernels}`] : []),
    `bf16        ${f.bf16}`,
  ];
}
