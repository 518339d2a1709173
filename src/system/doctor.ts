// What `i3d doctor` reports: the engine, the CPU's vector features, CUDA, ffmpeg and the Python peers.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { engineFacts, getNumThreads } from '../runtime.js';
import { cpuFeatures } from './cpu.js';
import { findPythonTorch } from './python.js';

export interface DoctorReport {
  node: string;
  platform: string;
  cpu: { model: string; cores: number; features: Record<string, boolean> };
  libtorch: { version: string; threads: number; mkldnn: boolean; openmp: boolean };
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
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus()[0]?.model ?? 'unknown', cores: f.hardwareConcurrency, features: cpuFeatures() },
    libtorch: { version: f.torchVersion, threads: getNumThreads(), mkldnn: f.mkldnn, openmp: f.openmp },
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
    `bf16        ${r.cpu.features.avx512_bf16 || r.cpu.features.amx_bf16 ? 'native (AVX512-BF16/AMX)' : 'emulated (slow)'}`,
    `libtorch    ${r.libtorch.version}, ${r.libtorch.threads} threads, oneDNN ${yes(r.libtorch.mkldnn)}, OpenMP ${yes(r.libtorch.openmp)}`,
    `cuda        ${r.cuda.available ? `yes, ${r.cuda.devices} device(s)` : 'no'}`,
    `ffmpeg      ${r.ffmpeg ?? 'not found (sudo apt-get install ffmpeg)'}`,
    `ffprobe     ${r.ffprobe ?? 'not found (sudo apt-get install ffmpeg)'}`,
    `python3 torch ${r.pythonTorch ?? 'not found (optional: benchmarks compare against it; sudo apt-get install python3-torch)'}`,
  ].join('\n');
}
