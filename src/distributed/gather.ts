// Results computed by shares of the ranks, put back together on every rank: rows of numbers keyed by the index of
// their item (a video in a list every rank holds in the same order), and sets of indices.
import type { ProcessGroup } from './process-group.js';

/** Every rank's rows (index -> numbers, any count each), merged; the same Map on every rank. */
export async function gatherRows(pg: ProcessGroup, rows: ReadonlyMap<number, readonly number[]>): Promise<Map<number, number[]>> {
  const packed: number[] = [];
  for (const [i, r] of rows) packed.push(i, r.length, ...r);
  const out = new Map<number, number[]>();
  for (const p of await pg.allGatherNumbers(packed))
    for (let k = 0; k < p.length;) {
      const i = p[k]!;
      const n = p[k + 1]!;
      out.set(i, p.slice(k + 2, k + 2 + n));
      k += 2 + n;
    }
  return out;
}

/** The union of every rank's indices, sorted. */
export async function gatherIndices(pg: ProcessGroup, indices: Iterable<number>): Promise<number[]> {
  const all = (await pg.allGatherNumbers([...indices])).flat();
  return [...new Set(all)].sort((a, b) => a - b);
}
