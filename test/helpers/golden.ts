/** Loads the TorchRec golden vectors (test/fixtures/golden, copied from real TorchRec runs). */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';

export const GOLDEN_DIR = path.join(__dirname, '..', 'fixtures', 'golden');

export interface GoldenTable {
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  feature_names: string[];
  pooling: 'SUM' | 'MEAN';
  data_type: 'FP32' | 'FP16';
  feature_names_after_init: string[];
}

export interface GoldenCase {
  case: string;
  description: string;
  ebc: { is_weighted: boolean; tables: GoldenTable[] };
  state_dict_keys: string[];
  weights: Record<string, { shape: number[]; dtype: string; data: number[][] }>;
  kjt: {
    keys: string[];
    stride: number;
    values: number[];
    lengths: number[];
    offsets: number[];
    weights: number[] | null;
    values_dtype: 'int32' | 'int64';
    lengths_dtype: 'int32' | 'int64';
  };
  expected: {
    keys: string[];
    length_per_key: number[];
    offset_per_key: number[];
    values: number[][];
  } | null;
  grad: { G: number[][]; weight_grads: Record<string, { data: number[][] }> } | null;
  error: { type: string; message: string } | null;
}

export function goldenCaseFiles(): string[] {
  return fs
    .readdirSync(GOLDEN_DIR)
    .filter((f) => f.startsWith('ebc_') && f.endsWith('.json'))
    .filter((f) => 'ebc' in JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, f), 'utf8')))
    .sort();
}

export function loadGolden<T = GoldenCase>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, file), 'utf8')) as T;
}

export function goldenTables(g: GoldenCase): object[] {
  return g.ebc.tables.map((t) => ({
    name: t.name,
    num_embeddings: t.num_embeddings,
    embedding_dim: t.embedding_dim,
    feature_names: t.feature_names,
    pooling: t.pooling,
    data_type: t.data_type,
  }));
}

export function ids(values: number[], dtype: 'int32' | 'int64'): Int32Array | BigInt64Array {
  return dtype === 'int32' ? Int32Array.from(values) : BigInt64Array.from(values.map((v) => BigInt(v)));
}

export function goldenKjt(g: GoldenCase, layout: 'lengths' | 'offsets' = 'lengths'): KeyedJaggedTensor {
  const k = g.kjt;
  const weights = k.weights ? Float32Array.from(k.weights) : undefined;
  if (layout === 'offsets') {
    return KeyedJaggedTensor.fromOffsets({
      keys: k.keys,
      values: ids(k.values, k.values_dtype),
      offsets: ids(k.offsets, k.lengths_dtype),
      weights,
    });
  }
  return KeyedJaggedTensor.fromLengths({
    keys: k.keys,
    values: ids(k.values, k.values_dtype),
    lengths: ids(k.lengths, k.lengths_dtype),
    weights,
  });
}

export function goldenEbc(g: GoldenCase): EmbeddingBagCollection {
  const ebc = new EmbeddingBagCollection({ tables: goldenTables(g), isWeighted: g.ebc.is_weighted, seed: 1 });
  for (const [table, w] of Object.entries(g.weights)) ebc.setWeights(table, Float32Array.from(w.data.flat()));
  return ebc;
}

export function toleranceFor(g: GoldenCase): number {
  return g.ebc.tables.some((t) => t.data_type === 'FP16') ? 2e-3 : 1e-5;
}

/** Largest |a - b|, after checking lengths agree. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
