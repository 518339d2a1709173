// The whole reliability campaign (issue 15, parts 1 and 2): `npm run test:reliability`. Makes the hostile corpus,
// runs every CLI command on every kind, `i3d train` once over a dataset holding all of them, and the fuzzer on every
// weight and data format; prints the results as markdown tables (docs/reliability.md is filled from them) and exits
// non-zero on any defect: a crash, a hang, an unnamed error, a leftover process or a connection.
//   node dist/test/hostile/campaign.js [--mutations N] [--seed S] [--jobs J] [--md FILE]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { argsFor, COMMANDS, judge, listener, readCode, runCli, trainDataset, type CommandName, type Outcome } from './cli-cases.js';
import { makeCorpus, type Kind } from './corpus.js';
import { FORMATS, type Format, type FuzzSummary } from './fuzz.js';

const TIME_LIMIT_MS = 180_000;

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
}

/** Runs the fuzzer for one format in a child (crash isolation) under a time limit and /usr/bin/time. */
export async function fuzzChild(
  format: Format,
  count: number,
  seed: number,
  dir: string,
  timeoutMs: number,
): Promise<{ summary?: FuzzSummary; crash?: string; maxRssMB: number; ms: number }> {
  mkdirSync(dir, { recursive: true });
  const timeFile = join(dir, `${format}.time`);
  const t0 = performance.now();
  const child = spawn(
    '/usr/bin/time',
    [
      '-f',
      '%M',
      '-o',
      timeFile,
      process.execPath,
      new URL('./fuzz.js', import.meta.url).pathname,
      format,
      String(count),
      String(seed),
      join(dir, format),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-200_000)));
  child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-8000)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    process.kill(-child.pid!, 'SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  let maxRssMB = 0;
  try {
    maxRssMB = Number(/(\d+)\s*$/.exec(readFileSync(timeFile, 'utf8').trim())?.[1] ?? 0) / 1024;
  } catch {
    // no time file
  }
  const lines = out.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (code === 0 && last.startsWith('{')) return { summary: JSON.parse(last) as FuzzSummary, maxRssMB, ms };
  const lastCase = lines.filter((l) => l.startsWith('case ')).pop() ?? 'before the first case';
  return { crash: `${timedOut ? 'HANG' : `exit ${code}`} at ${lastCase}: ${err.split('\n').slice(-3).join(' ')}`, maxRssMB, ms };
}

/** Runs `jobs` at once. */
async function pool<T, R>(items: readonly T[], jobs: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

export async function runVideoCases(kinds: Kind[], root: string, commands: readonly CommandName[], jobs: number): Promise<Outcome[]> {
  const cases = kinds.flatMap((k) => commands.map((c) => ({ k, c })));
  return pool(cases, jobs, async ({ k, c }) => {
    const out = mkdtempSync(join(root, '.out-'));
    const stop = k.grow?.();
    try {
      return judge(k, c, await runCli(argsFor(c, k, root, out), TIME_LIMIT_MS, out));
    } finally {
      stop?.();
      rmSync(out, { recursive: true, force: true });
    }
  });
}

const fmt = (n: number, d = 0) => n.toFixed(d);

async function main(): Promise<void> {
  const mutations = Number(flag('--mutations', '1000'));
  const seed = Number(flag('--seed', '15'));
  const jobs = Number(flag('--jobs', '2'));
  const md = flag('--md', '');
  const only = flag('--only', 'all'); // 'video', 'fuzz' or 'all'
  const started = Date.now();
  const load0 = loadavg();
  const root = mkdtempSync(join(tmpdir(), 'i3d-hostile-'));
  const net = await listener();
  let failures = 0;
  const md_: string[] = [];
  try {
    const kinds = only === 'fuzz' ? [] : makeCorpus(root, net.port);
    console.error(`corpus: ${kinds.length} kinds in ${root}`);
    const codes = new Map<string, string>();
    for (const k of kinds) {
      const stop = k.grow?.();
      codes.set(k.kind, await readCode(k));
      stop?.();
    }
    const outcomes = only === 'fuzz' ? [] : await runVideoCases(kinds, root, COMMANDS, jobs);
    // train once, over a dataset holding every kind
    const trainOut = mkdtempSync(join(root, '.train-'));
    const good = kinds.find((k) => k.kind === 'ok')!.file;
    const data = trainDataset(root, kinds, good);
    const tr =
      only === 'fuzz'
        ? null
        : await runCli(argsFor('train', { kind: 'all', what: '', file: data, expect: [] }, data, trainOut), 600_000, trainOut);
    if (tr) {
      const trainOk = !tr.timedOut && tr.status !== null && tr.status <= 125 && !tr.leftovers.length;
      const trainText = tr.stdout + tr.stderr;
      md_.push('### Video inputs', '');
      md_.push(`| kind | what | read in-process | ${COMMANDS.join(' | ')} | train (one run, all kinds) |`);
      md_.push(`| --- | --- | --- | ${COMMANDS.map(() => '---').join(' | ')} | --- |`);
      for (const k of kinds) {
        const row = outcomes.filter((o) => o.kind === k.kind);
        const cells = row.map((o) => `${o.pass ? '' : '**FAIL** '}${o.outcome}${o.why ? ` (${o.why})` : ''}`);
        // The dataset scanner lists files with a video extension only: a folder, .ffconcat, .m3u8, .sdp are not listed.
        const named = trainText.includes(k.file.split('/').pop()!)
          ? 'skipped, named'
          : k.expect.includes('ok')
            ? 'used'
            : /\.(ffconcat|m3u8|sdp)$/.test(k.file) || k.kind === 'dir'
              ? 'not listed (not a video file name)'
              : '**not named**';
        if (named === '**not named**') failures++;
        md_.push(`| ${k.kind} | ${k.what} | ${codes.get(k.kind)} | ${cells.join(' | ')} | ${k.kind === 'ok' ? 'used' : named} |`);
        failures += row.filter((o) => !o.pass).length;
      }
      md_.push(
        '',
        `train over all kinds: exit ${tr.status ?? tr.signal}${tr.timedOut ? ' (HANG)' : ''}, ${fmt(tr.ms / 1000)} s, ${fmt(tr.maxRssMB)} MB; last message: ${(tr.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}`,
      );
      if (!trainOk) failures++;
      const worst = outcomes.reduce((a, o) => ({ ms: Math.max(a.ms, o.ms), mb: Math.max(a.mb, o.maxRssMB) }), {
        ms: tr.ms,
        mb: tr.maxRssMB,
      });
      const crashes = outcomes.filter((o) => o.outcome === 'CRASH').length + (tr.status === null && !tr.timedOut ? 1 : 0);
      const hangs = outcomes.filter((o) => o.outcome === 'HANG').length + (tr.timedOut ? 1 : 0);
      const leftovers = outcomes.reduce((a, o) => a + o.leftovers, 0) + tr.leftovers.length;
      md_.push(
        '',
        `Runs: ${outcomes.length + 1}; failures ${failures}; crashes ${crashes}; hangs ${hangs}; leftover processes ${leftovers}; ` +
          `connections to the loopback listener ${net.connections()}; worst time ${fmt(worst.ms / 1000, 1)} s; worst peak RSS ${fmt(worst.mb)} MB.`,
      );
      if (net.connections()) failures++;
    }
    // the fuzzer
    const fuzzDir = join(root, '.fuzz');
    mkdirSync(fuzzDir);
    md_.push(
      '',
      '### Weight and data files',
      '',
      '| format | mutations | accepted | named errors (codes) | defects | worst time per file | peak RSS |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const f of only === 'video' ? [] : FORMATS) {
      const r = await fuzzChild(f, mutations, seed, fuzzDir, 1_800_000);
      if (r.summary) {
        const s = r.summary;
        md_.push(
          `| ${f} | ${s.tried} | ${s.ok} | ${s.named} (${Object.entries(s.codes)
            .map(([c, n]) => `${c} ${n}`)
            .join(', ')}) | ${s.defectCount}${
            s.defects.length
              ? `: ${s.defects
                  .slice(0, 2)
                  .map((d) => `#${d.index} ${d.mutation}: ${d.error}`)
                  .join('; ')}`
              : ''
          } | ${fmt(s.worstMs)} ms | ${fmt(r.maxRssMB)} MB |`,
        );
        failures += s.defectCount;
      } else {
        md_.push(`| ${f} | - | - | - | **${r.crash}** | - | ${fmt(r.maxRssMB)} MB |`);
        failures++;
      }
      console.error(md_[md_.length - 1]);
    }
    md_.push(
      '',
      `Campaign: ${fmt((Date.now() - started) / 1000)} s; load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}; defects ${failures}.`,
    );
  } finally {
    await net.close();
    rmSync(root, { recursive: true, force: true });
  }
  const text = md_.join('\n');
  console.log(text);
  if (md) writeFileSync(md, `${text}\n`);
  process.exitCode = failures ? 1 : 0;
}

if (process.argv[1]?.endsWith('campaign.js')) await main();
