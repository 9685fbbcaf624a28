/**
 * A straightforward reference for the fused pooled lookup, and random cases for it. The reference
 * reads the tables back with getWeights() and pools every (feature, sample) bag in plain JS with
 * exact float32 arithmetic (Math.fround after every operation, in id order, multiply then add), so
 * the kernel's output must match it bit for bit: the kernel promises the same sums on every path.
 * Used in-process by pooled_lookup_random.test.ts and in child processes (run_random_cases.js) that
 * force the portable path or another prefetch distance.
 */
import { EmbeddingBagCollection } from '../../lib';
import { roundToFp16 } from '../helpers/fp16';
import { Rng } from '../helpers/random';
import { RandomBatch, TableCase, randomBatch, rowsPerKey, toKjt } from '../helpers/random_batch';

/** The batch's keys are the KJT's order (may differ from the tables' order, may hold unused keys). */
export interface RandomCase extends RandomBatch {
  label: string;
  tables: TableCase[];
  isWeighted: boolean;
  int64: boolean;
  layout: 'lengths' | 'offsets';
}

/** Pools the case with plain loops over the tables as getWeights() returns them. */
export function referenceForward(ebc: EmbeddingBagCollection, c: RandomCase): Float32Array {
  const f = Math.fround;
  const weightsOf = new Map(c.tables.map((t) => [t.name, ebc.getWeights(t.name)]));
  const readers = new Map<string, number>();
  for (const t of c.tables) for (const name of t.feature_names) readers.set(name, (readers.get(name) ?? 0) + 1);
  const width = c.tables.reduce((s, t) => s + t.embedding_dim * t.feature_names.length, 0);
  const out = new Float32Array(c.batch * width);
  const offsets = [0];
  for (const len of c.lengths) offsets.push(offsets[offsets.length - 1] + len);
  let column = 0;
  for (const t of c.tables) {
    const w = weightsOf.get(t.name)!;
    const D = t.embedding_dim;
    for (const feature of t.feature_names) {
      const k = c.keys.indexOf(feature);
      for (let b = 0; b < c.batch; b++) {
        const begin = offsets[k * c.batch + b];
        const end = offsets[k * c.batch + b + 1];
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let i = begin; i < end; i++) {
            const x = w[c.values[i] * D + d];
            acc = c.isWeighted ? f(acc + f(f(c.weights![i]) * x)) : f(acc + x);
          }
          if (t.pooling === 'MEAN' && end > begin) acc = f(acc * f(1 / (end - begin)));
          if (t.data_type === 'fp16') acc = roundToFp16(acc);
          out[b * width + column + d] = acc;
        }
      }
      column += D;
    }
  }
  return out;
}

export function buildEbc(c: RandomCase, seed: number): EmbeddingBagCollection {
  // Wide init bounds: large and small magnitudes both, so rounding differences would show.
  const tables = c.tables.map((t) => ({ ...t, weight_init_min: -4, weight_init_max: 4 }));
  return new EmbeddingBagCollection({ tables, isWeighted: c.isWeighted, seed });
}

const DIMS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40, 57, 63, 64, 65, 72, 100, 127, 128, 129, 136, 200];

/** One random case; `seed` fixes everything about it. */
export function randomCase(seed: number, big = false): RandomCase {
  const r = new Rng(seed);
  const isWeighted = r.chance(0.3);
  const numTables = big ? r.int(2, 4) : r.int(1, 4); // big: tables over the 8 MiB prefetch threshold
  const tables: TableCase[] = [];
  const features: string[] = [];
  for (let t = 0; t < numTables; t++) {
    const names: string[] = [];
    const count = r.int(1, 2);
    for (let i = 0; i < count; i++) {
      // Sometimes a feature another table already reads (the output then has feature@table blocks).
      const shared = features.length > 0 && r.chance(0.25) ? r.pick(features) : null;
      const name = shared && !names.includes(shared) ? shared : `f${features.length}`;
      if (!features.includes(name)) features.push(name);
      if (!names.includes(name)) names.push(name);
    }
    tables.push({
      name: `t${t}`,
      num_embeddings: big ? r.int(50_000, 80_000) : r.pick([1, 2, 5, 50, 300, 1000]),
      embedding_dim: big ? r.pick(DIMS.filter((d) => d >= 57)) : r.pick(DIMS),
      data_type: r.chance(0.5) ? 'fp16' : 'fp32',
      pooling: !isWeighted && r.chance(0.4) ? 'MEAN' : 'SUM',
      feature_names: names,
    });
  }
  // KJT keys: every feature, shuffled, sometimes with an extra key no table reads.
  const keys = [...features];
  if (r.chance(0.3)) keys.push('unused');
  for (let i = keys.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  const batch = big ? r.int(300, 700) : r.pick([1, 1, 2, 3, 5, 8, 13, 32]);
  // Ids below min(rows, 1000), the unused key's too.
  const rows: Record<string, number> = { unused: 1000 };
  for (const [key, n] of Object.entries(rowsPerKey(tables))) rows[key] = Math.min(n, 1000);
  // Weights on an unweighted collection too (it must ignore them).
  const weight = isWeighted ? (g: Rng) => (g.next() - 0.5) * 8 : r.chance(0.2) ? (g: Rng) => g.next() : undefined;
  const b = randomBatch(r, {
    keys,
    rows,
    batch,
    length: (g) => {
      const shape = g.next();
      return shape < 0.2 ? 0 : shape < 0.9 ? g.int(1, big ? 30 : 8) : g.int(50, big ? 200 : 700); // empty, small, huge
    },
    // Per bag: one id over and over, a few ids duplicated (first and last row among them), or uniform.
    ids: 'bagPatterns',
    weight,
  });
  return {
    ...b,
    label: `seed ${seed}${big ? ' (big)' : ''}`,
    tables,
    isWeighted,
    int64: r.chance(0.5),
    layout: r.chance(0.5) ? 'lengths' : 'offsets',
  };
}

/** Compares bit patterns; returns a description of the first difference, or null. */
export function firstDifference(got: Float32Array, want: Float32Array): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i])
      return `element ${i}: ${got[i]} (0x${g[i].toString(16)}), expected ${want[i]} (0x${w[i].toString(16)})`;
  }
  return null;
}

/** Runs one case through forwardSync and forward; returns the problems found. */
export async function checkCase(c: RandomCase, seed: number): Promise<string[]> {
  const ebc = buildEbc(c, seed);
  try {
    const want = referenceForward(ebc, c);
    const problems: string[] = [];
    const kjt = () => toKjt(c, { int64: c.int64, layout: c.layout });
    const sync = firstDifference(ebc.forwardSync(kjt()).values(), want);
    if (sync) problems.push(`${c.label}: forwardSync ${sync}`);
    const async = firstDifference((await ebc.forward(kjt())).values(), want);
    if (async) problems.push(`${c.label}: forward ${async}`);
    return problems;
  } finally {
    ebc.dispose();
  }
}

/** The seeds every run covers: many small cases and a few big ones (threads, prefetch, long bags). */
export const SMALL_SEEDS = Array.from({ length: 120 }, (_, i) => 1000 + i);
export const BIG_SEEDS = [7, 8, 9, 10];
