// `i3d doctor`: what this installation can do.
import type { Command } from 'commander';
import { doctor, formatDoctor } from '../../system/doctor.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report libtorch, threads, CPU features (AVX512-BF16), CUDA and ffmpeg')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const r = doctor();
      console.log(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
    });
}
