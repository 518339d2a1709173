// Argument parsers shared by the commands of the `i3d` CLI.
import { InvalidArgumentError } from 'commander';

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'.`);
    return n;
  };
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
