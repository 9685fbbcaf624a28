/**
 * The CPU backward keeps its working memory from one step to the next (kernels::BackwardWorkspace):
 * a step after a bigger one, or after one that touched other tables, must leave the bits a
 * collection that never ran a step would leave from the same weights, state and step count.
 */
import { EmbeddingBagCollection, setNumThreads, getNumThreads } from '../../lib';
import { Rng } from '../helpers/random';
import { RandomBatch, TableCase, randomBatch, rowsPerKey, toKjt } from '../helpers/random_batch';

const TABLES: TableCase[] = [
  {
    name: 'a',
    num_embeddings: 5000,
    embedding_dim: 17,
    feature_names: ['a1', 'a2'],
    pooling: 'SUM',
    data_type: 'fp32',
  },
  { name: 'b', num_embeddings: 300, embedding_dim: 64, feature_names: ['b1'], pooling: 'MEAN', data_type: 'fp16' },
];
const OPTIMIZER = { rowwise_adagrad: { lr: 0.05, eps: 1e-8, weight_decay: 0.01, weight_decay_mode: 'l2' as const } };
const WIDTH = 17 * 2 + 64;

function build(): EmbeddingBagCollection {
  return new EmbeddingBagCollection({ tables: TABLES.map((t) => ({ ...t, optimizer: OPTIMIZER })), seed: 5 });
}

function batch(r: Rng, size: number, maxLength: number): RandomBatch {
  const rows = rowsPerKey(TABLES);
  return randomBatch(r, { keys: Object.keys(rows), rows, batch: size, length: maxLength, ids: 'hotKeys' });
}

function grad(r: Rng, b: RandomBatch): Float32Array {
  return Float32Array.from({ length: b.batch * WIDTH }, () => r.next() * 2 - 1);
}

function copy(from: EmbeddingBagCollection, to: EmbeddingBagCollection): void {
  for (const t of TABLES) {
    to.setWeights(t.name, from.getWeights(t.name));
    const state = from.optimizerState(t.name);
    for (const name of Object.keys(state)) to.setOptimizerState(t.name, name, state[name]);
  }
  to.setStep(from.step);
}

function expectSame(a: EmbeddingBagCollection, b: EmbeddingBagCollection): void {
  for (const t of TABLES) {
    expect(Buffer.from(a.getWeights(t.name).buffer).equals(Buffer.from(b.getWeights(t.name).buffer))).toBe(true);
    const sa = a.optimizerState(t.name);
    const sb = b.optimizerState(t.name);
    for (const name of Object.keys(sa))
      expect(Buffer.from(sa[name].buffer).equals(Buffer.from(sb[name].buffer))).toBe(true);
  }
}

describe.each([1, 2])('%i thread(s)', (threads) => {
  const saved = getNumThreads();
  beforeAll(() => setNumThreads(threads));
  afterAll(() => setNumThreads(saved));

  test('big step, then a small one, then a big one: each as from a fresh collection', async () => {
    const r = new Rng(77 + threads);
    const used = build();
    for (const [size, length] of [
      [900, 29],
      [3, 4],
      [700, 20],
      [1, 0],
    ] as const) {
      const b = batch(r, size, length);
      const g = grad(r, b);
      const fresh = build();
      copy(used, fresh);
      await used.backward(toKjt(b), g);
      await fresh.backward(toKjt(b), g);
      expectSame(used, fresh);
      fresh.dispose();
    }
    used.dispose();
  }, 60000);
});
