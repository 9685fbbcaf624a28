/** Shared bits of the managed-id tests: a one-table managed collection, batches and row probes. */
import { EmbeddingBagCollection, KeyedJaggedTensor, Mode } from '../../lib';
import { Rng } from '../helpers/random';
import type { Policy } from './reference';

export const DIM = 4;

export function managedEbc(o: {
  rows: number;
  policy: Policy;
  interval: number;
  decay?: number;
  maxWaiting?: number;
  optimizer?: object;
  seed?: number;
}): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      {
        name: 't',
        num_embeddings: o.rows,
        embedding_dim: DIM,
        feature_names: ['f'],
        optimizer: o.optimizer ?? { sgd: { lr: 0.1 } },
        managed_collision: {
          eviction_policy: o.policy,
          eviction_interval: o.interval,
          decay_exponent: o.decay ?? 1,
          ...(o.maxWaiting === undefined ? {} : { max_waiting_ids: o.maxWaiting }),
        },
      },
    ],
    seed: o.seed ?? 7,
  });
}

/** One bag per entry of `bags`, feature 'f', raw 64-bit ids. */
export function batch(bags: bigint[][]): KeyedJaggedTensor {
  return KeyedJaggedTensor.fromLengths({
    keys: ['f'],
    values: BigInt64Array.from(bags.flat()),
    lengths: Int32Array.from(bags.map((b) => b.length)),
  });
}

/**
 * A seeded Zipf(s) stream over `universe` ids: rank k drawn with probability ~ 1/k^s, so a few ids
 * are hot and a long tail competes for the remaining rows.
 */
export function zipfStream(universe: readonly bigint[], s: number, seed: number): () => bigint {
  const weights = universe.map((_, k) => 1 / Math.pow(k + 1, s));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / total));
  const r = new Rng(seed);
  return () => {
    const u = r.next();
    let k = cdf.findIndex((c) => u < c);
    if (k < 0) k = universe.length - 1;
    return universe[k];
  };
}

/**
 * The row each id reads, observed from outside: an EVALUATE forward (which admits and counts
 * nothing) of one id per bag, matched against the table's rows. Rows must be pairwise distinct.
 */
export async function observedRows(ebc: EmbeddingBagCollection, ids: readonly bigint[]): Promise<number[]> {
  const mode = ebc.mode;
  ebc.setMode(Mode.EVALUATE);
  try {
    const out = (await ebc.forward(batch(ids.map((id) => [id])))).values();
    const weights = ebc.getWeights('t');
    const rows = weights.length / DIM;
    return ids.map((_, b) => {
      const got = out.subarray(b * DIM, (b + 1) * DIM);
      for (let r = 0; r < rows; r++) {
        if (got.every((x, c) => x === weights[r * DIM + c])) return r;
      }
      throw new Error(`bag ${b} matches no row of the table`);
    });
  } finally {
    ebc.setMode(mode);
  }
}
