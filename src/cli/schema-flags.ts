// Command-line flags made from a zod object schema: one flag per field, its help from the field's description, its
// parser from the field's type. The parameters file and the flags then cannot drift apart (`i3d train`).
import { InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { finiteNumber, nonNegativeInt, numberList, positiveInt } from './options.js';

/** Per field: another flag name or value placeholder than the ones made from its name and type. */
export interface FlagOverride {
  flag?: string;
  value?: string;
}

interface Field {
  key: string;
  type: string;
  schema: z.ZodType;
  description: string;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function fields(schema: z.ZodObject): Field[] {
  return Object.entries(schema.shape).map(([key, outer]) => {
    const s = outer as unknown as z.ZodType;
    const inner = (s.def.type === 'optional' ? (s as z.ZodOptional).unwrap() : s) as z.ZodType;
    return { key, type: inner.def.type, schema: inner, description: s.description ?? inner.description ?? key };
  });
}

/** `parse`, then the field's own schema: a value the parameters file would refuse is refused as the flag's. */
function checked(f: Field, flag: string, parse: (v: string) => unknown): (v: string) => unknown {
  return (v: string) => {
    const value = parse(v);
    const r = f.schema.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(`${flag}: ${r.error.issues[0]!.message}, got '${v}'.`);
    return value;
  };
}

/** The parser and placeholder of a field that takes a value. */
function valueFlag(f: Field, flag: string): { parse: (v: string) => unknown; value: string } {
  const s = f.schema as z.ZodType & { isInt?: boolean; options?: readonly string[] };
  switch (f.type) {
    case 'number':
      if (s.isInt) return { parse: s.safeParse(0).success ? nonNegativeInt(flag) : positiveInt(flag), value: '<n>' };
      return { parse: finiteNumber(flag), value: '<x>' };
    case 'tuple': {
      const n = (s.def as unknown as { items: unknown[] }).items.length;
      return { parse: numberList(flag, n), value: `<${'abcdefg'.slice(0, n).split('').join(',')}>` };
    }
    case 'array':
      return { parse: (v: string) => v.split(',').map((x) => x.trim()), value: '<a,b,...>' };
    case 'enum':
      return { parse: (v: string) => v, value: `<${(s.options ?? []).join('|')}>` };
    default:
      return { parse: (v: string) => v, value: '<value>' };
  }
}

export interface SchemaFlags {
  /** The options to add to a command. */
  options: Option[];
  /** The fields the user gave as flags, by field name (from commander's parsed options). */
  given(opts: Record<string, unknown>): Record<string, unknown>;
}

/**
 * Flags for every field of `schema`: `--kebab-name <value>` for values; a boolean field is `--name` when its default
 * is false and `--no-name` when it is true; a boolean-or-string field is both `--name <value>` and `--no-name`.
 */
export function schemaFlags(
  schema: z.ZodObject,
  defaults: Record<string, unknown>,
  overrides: Record<string, FlagOverride> = {},
): SchemaFlags {
  const options: Option[] = [];
  const attributes = new Map<string, string>();
  const negatedOnly = new Set<string>();
  for (const f of fields(schema)) {
    const name = overrides[f.key]?.flag ?? kebab(f.key);
    const add = (o: Option) => {
      options.push(o);
      attributes.set(o.attributeName(), f.key);
    };
    if (f.type === 'boolean') {
      if (defaults[f.key] === true) {
        const o = new Option(`--no-${name}`, `turn off: ${f.description}`);
        negatedOnly.add(o.attributeName());
        add(o);
      } else add(new Option(`--${name}`, f.description));
      continue;
    }
    const flag = `--${name}`;
    if (f.type === 'union') {
      add(new Option(`${flag} ${overrides[f.key]?.value ?? '<value>'}`, f.description));
      add(new Option(`--no-${name}`, `as ${f.key}: false in the parameters file`));
      continue;
    }
    const { parse, value } = valueFlag(f, flag);
    add(new Option(`${flag} ${overrides[f.key]?.value ?? value}`, f.description).argParser(checked(f, flag, parse)));
  }
  return {
    options,
    given(opts) {
      const out: Record<string, unknown> = {};
      for (const [attr, key] of attributes) {
        // commander gives a lone `--no-x` the value true when absent: only its `false` was given.
        if (opts[attr] === undefined || (negatedOnly.has(attr) && opts[attr] !== false)) continue;
        out[key] = opts[attr];
      }
      return out;
    },
  };
}
