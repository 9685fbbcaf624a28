/**
 * The one random table type and KJT generator of the randomised tests. Each test picks its shape
 * through options (bag lengths, how ids repeat, weights); the draws happen in one fixed order (per
 * key: its id setup; per bag: length, bag setup, ids; then every weight), so a seed fixes the batch.
 * Whether a batch is weighted is the caller's draw, made before this one.
 */
import { KeyedJaggedTensor } from '../../lib';
import { Rng } from './random';

/** A table of a randomised test: the EmbeddingBagConfig fields those tests vary. */
export interface TableCase {
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  data_type: 'fp32' | 'fp16';
  pooling: 'SUM' | 'MEAN';
  feature_names: string[];
}

/** A key-major batch in plain arrays: lengths[k * batch + b] ids of key k in sample b. */
export interface RandomBatch {
  keys: string[];
  batch: number;
  lengths: number[];
  values: number[];
  weights: number[] | null;
}

/**
 * How ids repeat: 'uniform' over the key's rows; 'skewed' (rows * u^3) so a few rows recur within
 * and across batches; 'hotKeys': 30% of keys read only 1-4 rows (duplicates everywhere);
 * 'bagPatterns': per bag, 20% one id over and over, 20% a few ids (first and last row included),
 * else uniform.
 */
export type IdPattern = 'uniform' | 'skewed' | 'hotKeys' | 'bagPatterns';

export interface BatchOptions {
  keys: readonly string[];
  /** Rows each key may address: ids are drawn in [0, rows). */
  rows: Readonly<Record<string, number>>;
  batch: number;
  /** A bag's length: uniform in [0, max] for a number, else its own draw. */
  length: number | ((r: Rng) => number);
  ids?: IdPattern;
  /** One weight per value, drawn after every id; no weights without it. */
  weight?: (r: Rng) => number;
  /**
   * Ids that are wrong on purpose (the fuzz): each id is, with probability `chance`, `id(r, rows)`
   * instead of one of the pattern's (that draw comes first, per id).
   */
  badIds?: { chance: number; id: (r: Rng, rows: number) => number };
}

function bagIds(r: Rng, rows: number, hot: number, pattern: IdPattern): () => number {
  switch (pattern) {
    case 'skewed':
      return () => Math.floor(rows * r.next() ** 3);
    case 'hotKeys':
      return () => Math.floor(r.next() * hot);
    case 'bagPatterns': {
      const shape = r.next();
      const few = [r.int(0, rows - 1), r.int(0, rows - 1), rows - 1, 0];
      if (shape < 0.2) return () => few[0];
      if (shape < 0.4) return () => r.pick(few);
      return () => r.int(0, rows - 1);
    }
    default:
      return () => Math.floor(r.next() * rows);
  }
}

export function randomBatch(r: Rng, o: BatchOptions): RandomBatch {
  const pattern = o.ids ?? 'uniform';
  const length =
    typeof o.length === 'number'
      ? (
          (max: number) => (g: Rng) =>
            g.int(0, max)
        )(o.length)
      : o.length;
  const lengths: number[] = [];
  const values: number[] = [];
  for (const key of o.keys) {
    const rows = o.rows[key];
    const hot = pattern === 'hotKeys' && r.next() < 0.3 ? Math.min(rows, 1 + Math.floor(r.next() * 4)) : rows;
    for (let b = 0; b < o.batch; b++) {
      const len = length(r);
      lengths.push(len);
      const id = bagIds(r, rows, hot, pattern);
      const bad = o.badIds;
      for (let i = 0; i < len; i++) values.push(bad && r.chance(bad.chance) ? bad.id(r, rows) : id());
    }
  }
  const weights = o.weight ? values.map(() => o.weight!(r)) : null;
  return { keys: [...o.keys], batch: o.batch, lengths, values, weights };
}

/** The rows each feature can address: the smallest table that reads it, in first-reader order. */
export function rowsPerKey(
  tables: readonly { num_embeddings: number; feature_names: string[] }[],
): Record<string, number> {
  const rows: Record<string, number> = {};
  for (const t of tables) for (const f of t.feature_names) rows[f] = Math.min(rows[f] ?? Infinity, t.num_embeddings);
  return rows;
}

/** The batch as a KJT: ids (and lengths or offsets) int32 or int64, weights as float32. */
export function toKjt(b: RandomBatch, o: { int64?: boolean; layout?: 'lengths' | 'offsets' } = {}): KeyedJaggedTensor {
  const ids = (xs: number[]) => (o.int64 ? BigInt64Array.from(xs, (x) => BigInt(x)) : Int32Array.from(xs));
  const weights = b.weights ? Float32Array.from(b.weights) : undefined;
  if (o.layout === 'offsets') {
    const offsets = [0];
    for (const len of b.lengths) offsets.push(offsets[offsets.length - 1] + len);
    return KeyedJaggedTensor.fromOffsets({
      keys: b.keys,
      values: ids(b.values),
      offsets: ids(offsets),
      weights,
      stride: b.batch,
    });
  }
  return KeyedJaggedTensor.fromLengths({
    keys: b.keys,
    values: ids(b.values),
    lengths: ids(b.lengths),
    weights,
    stride: b.batch,
  });
}
