/**
 * A straightforward reference for the fused pooled lookup, and random cases for it. The reference
 * reads the tables back with getWeights() and pools every (feature, sample) bag in plain JS with
 * exact float32 arithmetic (Math.fround after every operation, in id order, multiply then add), so
 * the kernel's output must match it bit for bit: the kernel promises the same sums on every path.
 * Used in-process by pooled_lookup_random.test.ts and in child processes (run_random_cases.js) that
 * force the portable path or another prefetch distance.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { roundToFp16 } from '../helpers/fp16';
import { rng } from '../helpers/random';

export interface TableCase {
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  data_type: 'fp32' | 'fp16';
  pooling: 'SUM' | 'MEAN';
  feature_names: string[];
}

export interface RandomCase {
  label: string;
  tables: TableCase[];
  isWeighted: boolean;
  keys: string[]; // KJT key order (may differ from the tables' order, may hold unused keys)
  batch: number;
  lengths: number[]; // key-major
  values: number[];
  weights: number[] | null;
  ids: 'int32' | 'int64';
  layout: 'lengths' | 'offsets';
}

export { rng };

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

export function buildKjt(c: RandomCase): KeyedJaggedTensor {
  const ids = (xs: number[]) => (c.ids === 'int32' ? Int32Array.from(xs) : BigInt64Array.from(xs.map(BigInt)));
  const weights = c.weights ? Float32Array.from(c.weights) : undefined;
  if (c.layout === 'offsets') {
    const offsets = [0];
    for (const len of c.lengths) offsets.push(offsets[offsets.length - 1] + len);
    return KeyedJaggedTensor.fromOffsets({
      keys: c.keys,
      values: ids(c.values),
      offsets: ids(offsets),
      weights,
      stride: c.batch,
    });
  }
  return KeyedJaggedTensor.fromLengths({
    keys: c.keys,
    values: ids(c.values),
    lengths: ids(c.lengths),
    weights,
    stride: c.batch,
  });
}

export function buildEbc(c: RandomCase, seed: number): EmbeddingBagCollection {
  // Wide init bounds: large and small magnitudes both, so rounding differences would show.
  const tables = c.tables.map((t) => ({ ...t, weight_init_min: -4, weight_init_max: 4 }));
  return new EmbeddingBagCollection({ tables, isWeighted: c.isWeighted, seed });
}

const DIMS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40, 57, 63, 64, 65, 72, 100, 127, 128, 129, 136, 200];

/** One random case; `seed` fixes everything about it. */
export function randomCase(seed: number, big = false): RandomCase {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const isWeighted = r() < 0.3;
  const numTables = big ? int(2, 4) : int(1, 4); // big: tables over the 8 MiB prefetch threshold
  const tables: TableCase[] = [];
  const features: string[] = [];
  for (let t = 0; t < numTables; t++) {
    const names: string[] = [];
    const count = int(1, 2);
    for (let i = 0; i < count; i++) {
      // Sometimes a feature another table already reads (the output then has feature@table blocks).
      const shared = features.length > 0 && r() < 0.25 ? pick(features) : null;
      const name = shared && !names.includes(shared) ? shared : `f${features.length}`;
      if (!features.includes(name)) features.push(name);
      if (!names.includes(name)) names.push(name);
    }
    tables.push({
      name: `t${t}`,
      num_embeddings: big ? int(50_000, 80_000) : pick([1, 2, 5, 50, 300, 1000]),
      embedding_dim: big ? pick(DIMS.filter((d) => d >= 57)) : pick(DIMS),
      data_type: r() < 0.5 ? 'fp16' : 'fp32',
      pooling: !isWeighted && r() < 0.4 ? 'MEAN' : 'SUM',
      feature_names: names,
    });
  }
  // KJT keys: every feature, shuffled, sometimes with an extra key no table reads.
  const keys = [...features];
  if (r() < 0.3) keys.push('unused');
  for (let i = keys.length - 1; i > 0; i--) {
    const j = int(0, i);
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  const batch = big ? int(300, 700) : pick([1, 1, 2, 3, 5, 8, 13, 32]);
  const rowsOf = (key: string) =>
    Math.min(
      ...tables
        .filter((t) => t.feature_names.includes(key))
        .map((t) => t.num_embeddings)
        .concat(1000),
    );
  const lengths: number[] = [];
  const values: number[] = [];
  for (const key of keys) {
    const rows = key === 'unused' ? 1000 : rowsOf(key);
    for (let b = 0; b < batch; b++) {
      const shape = r();
      const len = shape < 0.2 ? 0 : shape < 0.9 ? int(1, big ? 30 : 8) : int(50, big ? 200 : 700); // empty, small, huge
      lengths.push(len);
      const pattern = r();
      const few = [int(0, rows - 1), int(0, rows - 1), rows - 1, 0];
      for (let i = 0; i < len; i++) {
        if (pattern < 0.2)
          values.push(few[0]); // one id over and over
        else if (pattern < 0.4)
          values.push(pick(few)); // a few ids, duplicated
        else values.push(int(0, rows - 1));
      }
    }
  }
  const weights = isWeighted ? values.map(() => (r() - 0.5) * 8) : r() < 0.2 ? values.map(() => r()) : null;
  return {
    label: `seed ${seed}${big ? ' (big)' : ''}`,
    tables,
    isWeighted,
    keys,
    batch,
    lengths,
    values,
    weights,
    ids: r() < 0.5 ? 'int32' : 'int64',
    layout: r() < 0.5 ? 'lengths' : 'offsets',
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
    const sync = firstDifference(ebc.forwardSync(buildKjt(c)).values(), want);
    if (sync) problems.push(`${c.label}: forwardSync ${sync}`);
    const async = firstDifference((await ebc.forward(buildKjt(c))).values(), want);
    if (async) problems.push(`${c.label}: forward ${async}`);
    return problems;
  } finally {
    ebc.dispose();
  }
}

/** The seeds every run covers: many small cases and a few big ones (threads, prefetch, long bags). */
export const SMALL_SEEDS = Array.from({ length: 120 }, (_, i) => 1000 + i);
export const BIG_SEEDS = [7, 8, 9, 10];
