/**
 * tableNorms: the-algorithm-ml's log_ebc_norms (mean row L2 norm over at most 4,000,000 distinct
 * rows), checked against a direct computation from getWeights.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings, TABLE_NORM_SAMPLE_ROWS } from '../../lib';

function meanRowNorm(w: Float32Array, dim: number, rows?: number[]): number {
  const n = w.length / dim;
  const which = rows ?? Array.from({ length: n }, (_, r) => r);
  let sum = 0;
  for (const r of which) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += w[r * dim + d] ** 2;
    sum += Math.sqrt(sq);
  }
  return sum / which.length;
}

test('every row of each table when it has at most sampleRows rows (fp32 and fp16)', async () => {
  const ebc = new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: 1000, embedding_dim: 7 },
      { name: 'h', num_embeddings: 300, embedding_dim: 16, data_type: 'fp16' },
      { name: 'unlogged', num_embeddings: 10, embedding_dim: 2 },
    ],
    seed: 4,
  });
  const norms = await ebc.tableNorms(['h', 'a']);
  expect(Object.keys(norms)).toEqual(['h', 'a']);
  for (const [t, dim] of [
    ['a', 7],
    ['h', 16],
  ] as const) {
    const want = meanRowNorm(ebc.getWeights(t), dim);
    expect(Math.abs(norms[t] - want)).toBeLessThanOrEqual(1e-12 * want + 1e-15);
  }
  expect(await ebc.tableNorms([])).toEqual({});
  await expect(ebc.tableNorms(['nope'])).rejects.toMatchObject({
    code: 'ERR_INVALID_ARGUMENT',
    message: expect.stringContaining('"nope"'),
  });
});

test('a sample of sampleRows distinct rows above that size, reproducible by seed', async () => {
  const n = 1000;
  const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: n, embedding_dim: 2 }] });
  // Row r is (r, 0): its norm is r, so a mean over k distinct rows times k is a sum of k distinct integers.
  ebc.setWeights(
    't',
    Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? i / 2 : 0)),
  );
  const k = 100;
  const a = (await ebc.tableNorms(['t'], { sampleRows: k, seed: 1 })).t;
  const b = (await ebc.tableNorms(['t'], { sampleRows: k, seed: 1 })).t;
  const c = (await ebc.tableNorms(['t'], { sampleRows: k, seed: 2 })).t;
  expect(a).toBe(b);
  expect(a).not.toBe(c);
  for (const mean of [a, c]) {
    const sum = mean * k;
    expect(Math.abs(sum - Math.round(sum))).toBeLessThan(1e-6);
    expect(sum).toBeGreaterThanOrEqual((k * (k - 1)) / 2); // the k smallest distinct norms
    expect(sum).toBeLessThanOrEqual(k * n - (k * (k + 1)) / 2); // the k largest
  }
  // sampleRows >= N reads every row.
  expect((await ebc.tableNorms(['t'], { sampleRows: n })).t).toBe((n - 1) / 2);
});

test('the default sample is 4,000,000 rows (a 4,000,005-row table)', async () => {
  expect(TABLE_NORM_SAMPLE_ROWS).toBe(4_000_000);
  const n = TABLE_NORM_SAMPLE_ROWS + 5;
  const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: n, embedding_dim: 1 }] });
  // Every row has norm 1 except 5 zero rows: a mean over exactly 4M rows is (4M - z) / 4M, z in 0..5.
  const w = new Float32Array(n).fill(-1);
  for (const r of [0, 17, 2_000_000, n - 2, n - 1]) w[r] = 0;
  ebc.setWeights('t', w);
  const mean = (await ebc.tableNorms(['t'], { seed: 3 })).t;
  const zeros = TABLE_NORM_SAMPLE_ROWS * (1 - mean);
  expect(Math.abs(zeros - Math.round(zeros))).toBeLessThan(1e-6);
  expect(Math.round(zeros)).toBeGreaterThanOrEqual(0);
  expect(Math.round(zeros)).toBeLessThanOrEqual(5);
  ebc.dispose();
});

test('LargeEmbeddings logs tables_to_log, after training too', async () => {
  const le = new LargeEmbeddings(
    {
      tables: [
        { name: 'user', num_embeddings: 50, embedding_dim: 4 },
        { name: 'item', num_embeddings: 60, embedding_dim: 8 },
      ],
      tables_to_log: ['item'],
      optimizer: { init_learning_rate: 0.5 },
    },
    { seed: 8 },
  );
  const norms = await le.tableNorms();
  expect(Object.keys(norms)).toEqual(['item']);
  expect(norms.item).toBeCloseTo(meanRowNorm(le.ebc.getWeights('item'), 8), 12);
  expect(Object.keys(await le.tableNorms(['user', 'item']))).toEqual(['user', 'item']);
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['user', 'item'], values: [1, 2, 3], lengths: [1, 2] });
  await le.backward(kjt, new Float32Array(12).fill(3));
  const after = (await le.tableNorms()).item;
  expect(after).not.toBe(norms.item);
  expect(after).toBeCloseTo(meanRowNorm(le.ebc.getWeights('item'), 8), 12);
  const none = new LargeEmbeddings({ tables: [{ name: 'user', num_embeddings: 5, embedding_dim: 2 }] });
  expect(await none.tableNorms()).toEqual({});
});
