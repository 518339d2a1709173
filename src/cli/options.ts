// Argument parsers shared by the commands of the `i3d` CLI.
import { InvalidArgumentError, type Command } from 'commander';
import type { Precision } from '../tensor/plan.js';
import { DEFAULT_FLOW_IMPL, FLOW_IMPLS, type FlowImpl } from '../video/flow.js';

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'.`);
    return n;
  };
}

/** An integer >= 0. */
export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${value}'.`);
    return n;
  };
}

/** --precision: fp32 or bf16 (whether this CPU runs bf16 is checked where the engine is chosen). */
export function precision(value: string): Precision {
  if (value !== 'fp32' && value !== 'bf16') throw new InvalidArgumentError(`--precision must be fp32 or bf16, got '${value}'.`);
  return value;
}

/** A finite number. */
export function finiteNumber(name: string) {
  return (value: string): number => {
    const x = Number(value);
    if (!Number.isFinite(x)) throw new InvalidArgumentError(`${name} must be a number, got '${value}'.`);
    return x;
  };
}

/** A number > 0 of seconds. */
export function positiveSeconds(name: string) {
  return (value: string): number => {
    const x = Number(value);
    if (!(x > 0)) throw new InvalidArgumentError(`${name} must be a positive number of seconds, got '${value}'.`);
    return x;
  };
}

/** `n` comma-separated numbers. */
export function numberList(name: string, n: number) {
  return (value: string): number[] => {
    const xs = value.split(',').map((s) => Number(s.trim()));
    if (xs.length !== n || xs.some((x) => !Number.isFinite(x)))
      throw new InvalidArgumentError(`${name} takes ${n} comma-separated numbers, got '${value}'.`);
    return xs;
  };
}

/** 0.9876 -> '98.8%'. */
export function percent(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-';
}

/**
 * `--flow-impl opencv|ours` on a command that computes optical flow: which TV-L1 computes it. Set as $I3D_FLOW_IMPL
 * before the action runs, so that the flow of clip loaders and worker threads follows it too.
 */
export function flowImplOption(cmd: Command): Command {
  return cmd
    .option(
      '--flow-impl <impl>',
      `TV-L1 implementation: 'ours' (native, several times cheaper) or 'opencv' (OpenCV's DualTVL1) (default: $I3D_FLOW_IMPL, else '${DEFAULT_FLOW_IMPL}')`,
      (value: string): FlowImpl => {
        if (!(FLOW_IMPLS as readonly string[]).includes(value))
          throw new InvalidArgumentError(`--flow-impl must be ${FLOW_IMPLS.join(' or ')}, got '${value}'.`);
        return value as FlowImpl;
      },
    )
    .hook('preAction', (c) => {
      const impl = (c.opts() as { flowImpl?: FlowImpl }).flowImpl;
      if (impl) process.env.I3D_FLOW_IMPL = impl;
    });
}
