// `i3d doctor`: what this installation can do.
import type { Command } from 'commander';
import { fusedPathReport } from '../../inference/fused-report.js';
import { doctor, formatDoctor } from '../doctor-report.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report libtorch, threads, CPU features, the ISA oneDNN uses, the layout and kernels of the fused path, CUDA, ffmpeg')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const r = { ...doctor(), fused: fusedPathReport() };
      console.log(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
    });
}
