/**
 * Random train steps for backward_isa.test.ts, run in a child process per instruction set and thread
 * count (run_isa_cases.js): every optimizer rule and weight-decay mode, dims that no vector width
 * divides, fp16 tables with stochastic rounding, hot rows, a table no id reaches, SUM and MEAN, per-value
 * weights, and batches big enough that the rows are split into many chunks across threads. Each case
 * ends as one digest of every table's weights and optimizer state, so runs can be compared bit for bit.
 */
import { createHash } from 'crypto';
import { EmbeddingBagCollection } from '../../lib';
import { Rng } from '../helpers/random';
import { RandomBatch, TableCase, randomBatch, rowsPerKey, toKjt } from '../helpers/random_batch';

const DIMS = [1, 3, 7, 8, 13, 16, 17, 31, 33, 64, 100, 129];

/** Each rule, and each weight-decay mode of the rules that have them. */
const OPTIMIZERS: Record<string, unknown>[] = [
  { sgd: { lr: 0.05 } },
  { adagrad: { lr: 0.05, eps: 1e-8 } },
  { rowwise_adagrad: { lr: 0.05, eps: 1e-8 } },
  { rowwise_adagrad: { lr: 0.05, eps: 1e-8, weight_decay: 0.01, weight_decay_mode: 'l2' } },
  { rowwise_adagrad: { lr: 0.05, eps: 1e-8, weight_decay: 0.01, weight_decay_mode: 'decoupled' } },
  { adam: { lr: 0.01, eps: 1e-8, betas: [0.9, 0.999], weight_decay: 0.01 } },
  { partial_rowwise_adam: { lr: 0.01, eps: 1e-8, betas: [0.8, 0.99], weight_decay: 0 } },
  { lamb: { lr: 0.01, eps: 1e-6, betas: [0.9, 0.999], weight_decay: 0.01 } },
];

export const ISA_SEEDS = Array.from({ length: 24 }, (_, i) => 3000 + i);

/** Every bag of `key` emptied: the table that only `key` reads gets no id at all. */
function emptyKey(b: RandomBatch, key: number): RandomBatch {
  let start = 0;
  for (let i = 0; i < key * b.batch; i++) start += b.lengths[i];
  let count = 0;
  for (let i = key * b.batch; i < (key + 1) * b.batch; i++) count += b.lengths[i];
  const lengths = b.lengths.map((len, i) => (i >= key * b.batch && i < (key + 1) * b.batch ? 0 : len));
  const cut = <T>(xs: T[]) => [...xs.slice(0, start), ...xs.slice(start + count)];
  return { ...b, lengths, values: cut(b.values), weights: b.weights ? cut(b.weights) : null };
}

/** Runs case `seed` (two steps) and returns the digest of every table's weights and state after it. */
export async function runIsaCase(seed: number): Promise<string> {
  const r = new Rng(seed);
  const big = seed % 3 === 0;
  const tables: TableCase[] = [];
  const numTables = r.int(1, 3);
  for (let t = 0; t < numTables; t++) {
    tables.push({
      name: `t${t}`,
      num_embeddings: r.pick(big ? [40, 3000, 20000] : [1, 5, 300]),
      embedding_dim: r.pick(DIMS),
      feature_names: r.chance(0.3) ? [`t${t}a`, `t${t}b`] : [`t${t}a`],
      pooling: r.chance(0.5) ? 'SUM' : 'MEAN',
      data_type: r.chance(0.3) ? 'fp16' : 'fp32',
    });
  }
  const weighted = tables.every((t) => t.pooling === 'SUM') && r.chance(0.5);
  const rows = rowsPerKey(tables);
  let input = randomBatch(r, {
    keys: Object.keys(rows),
    rows,
    batch: big ? r.int(500, 900) : r.int(1, 12),
    length: (g) => (g.next() < 0.1 ? 0 : g.int(1, 29)),
    ids: 'hotKeys',
    weight: weighted ? (g) => g.next() * 2 - 0.5 : undefined,
  });
  // Now and then the last table reads nothing (its only key is the last one).
  const last = tables[tables.length - 1];
  if (numTables > 1 && last.feature_names.length === 1 && r.chance(0.4)) input = emptyKey(input, input.keys.length - 1);
  const optimizer = OPTIMIZERS[seed % OPTIMIZERS.length];
  const ebc = new EmbeddingBagCollection({
    tables: tables.map((t) => ({ ...t, optimizer })),
    isWeighted: weighted,
    seed,
  });
  const width = tables.reduce((s, t) => s + t.embedding_dim * t.feature_names.length, 0);
  const kjt = toKjt(input, { int64: r.chance(0.5) });
  for (let step = 0; step < 2; step++) {
    await ebc.backward(
      kjt,
      Float32Array.from({ length: input.batch * width }, () => r.next() * 2 - 1),
    );
  }
  const hash = createHash('sha256');
  for (const t of tables) {
    hash.update(Buffer.from(ebc.getWeights(t.name).buffer));
    const state = ebc.optimizerState(t.name);
    for (const name of Object.keys(state).sort()) hash.update(Buffer.from(state[name].buffer));
  }
  ebc.dispose();
  return `${seed} ${Object.keys(optimizer)[0]} ${hash.digest('hex').slice(0, 16)}`;
}
