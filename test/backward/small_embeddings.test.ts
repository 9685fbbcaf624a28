/**
 * SmallEmbeddings: tables over columns of a dense discrete-feature matrix [B][F]. Forward and one
 * training step checked against a hand computation from the weights.
 */
import { EmbeddingOptimizerConfig, SmallEmbeddings, SmallEmbeddingsConfig, TorchrecError } from '../../lib';

const CONFIG = {
  tables: [
    { name: 'country', num_embeddings: 4, embedding_dim: 2, index: 2 },
    { name: 'device', num_embeddings: 3, embedding_dim: 3, index: 0 },
  ],
};
// B = 3 rows, F = 3 columns; column 1 is read by no table.
const DENSE = [1, 99, 3, 2, -5, 3, 1, 0, 0];
const B = 3;
const F = 3;

function rows(w: Float32Array, dim: number, r: number): number[] {
  return Array.from(w.subarray(r * dim, (r + 1) * dim));
}

test('forward embeds each table column; output is [B][sum of dims] in table order', async () => {
  const se = new SmallEmbeddings(CONFIG, { seed: 2 });
  expect(se.outputDim).toBe(5);
  const country = se.getWeights('country');
  const device = se.getWeights('device');
  const want = [0, 1, 2].flatMap((b) => [...rows(country, 2, DENSE[b * F + 2]), ...rows(device, 3, DENSE[b * F + 0])]);
  for (const dense of [DENSE, Int32Array.from(DENSE), BigInt64Array.from(DENSE.map(BigInt))]) {
    const out = await se.forward(dense, B, F);
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(out)).toEqual(want);
    expect(Array.from(se.forwardSync(dense, B, F))).toEqual(want);
  }
});

test('one SGD step (EmbeddingOptimizerConfig): duplicate ids sum their gradients', async () => {
  const se = new SmallEmbeddings(new SmallEmbeddingsConfig(CONFIG), {
    seed: 3,
    optimizer: new EmbeddingOptimizerConfig({ init_learning_rate: 0.5 }),
  });
  const country0 = se.getWeights('country');
  const device0 = se.getWeights('device');
  const grad = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  await se.backward(DENSE, B, F, grad);
  expect(se.step).toBe(1);
  // country: rows 3 (b = 0, 1) and 0 (b = 2); device: rows 1 (b = 0, 2) and 2 (b = 1).
  const country = Array.from(country0);
  const device = Array.from(device0);
  const g = (b: number, c: number) => grad[b * 5 + c];
  for (const b of [0, 1, 2]) {
    const cr = DENSE[b * F + 2];
    const dr = DENSE[b * F + 0];
    for (let d = 0; d < 2; d++) country[cr * 2 + d] -= 0.5 * g(b, d);
    for (let d = 0; d < 3; d++) device[dr * 3 + d] -= 0.5 * g(b, 2 + d);
  }
  const close = (a: Float32Array, b: number[]) => Array.from(a).every((x, i) => Math.abs(x - b[i]) <= 1e-6);
  expect(close(se.getWeights('country'), country)).toBe(true);
  expect(close(se.getWeights('device'), device)).toBe(true);
  // Untouched rows are untouched: country rows 1, 2 and device row 0.
  expect(rows(se.getWeights('country'), 2, 1)).toEqual(rows(country0, 2, 1));
  expect(rows(se.getWeights('device'), 3, 0)).toEqual(rows(device0, 3, 0));
});

test('one Adagrad step (OptimizerConfig for every table), by hand', async () => {
  const se = new SmallEmbeddings(CONFIG, { seed: 4, optimizer: { adagrad: { lr: 0.1, eps: 1e-8 } } });
  const device0 = se.getWeights('device');
  const grad = Float32Array.from({ length: 15 }, (_, i) => (i % 5) - 1.5);
  await se.backward(Int32Array.from(DENSE), B, F, grad);
  // device row 1 is read by rows 0 and 2: g = grad[0][2+d] + grad[2][2+d]; m = g^2; w -= 0.1 g / (|g| + eps).
  for (let d = 0; d < 3; d++) {
    const g = Math.fround(grad[2 + d] + grad[10 + 2 + d]);
    const want = device0[3 + d] - (0.1 * g) / (Math.abs(g) + 1e-8);
    expect(Math.abs(se.getWeights('device')[3 + d] - want)).toBeLessThanOrEqual(1e-6);
    expect(se.optimizerState('device').momentum1[3 + d]).toBeCloseTo(g * g, 5);
  }
});

test('bad input: out-of-range ids name table, row and column; shapes are checked', async () => {
  const se = new SmallEmbeddings(CONFIG, { optimizer: { sgd: { lr: 1 } } });
  const w0 = se.getWeights('country');
  const bad = [...DENSE];
  bad[1 * F + 2] = 4; // country has 4 rows
  const e = await se.forward(bad, B, F).catch((err: TorchrecError) => err);
  expect(e).toBeInstanceOf(TorchrecError);
  expect((e as TorchrecError).code).toBe('ERR_INDEX_OUT_OF_RANGE');
  expect((e as TorchrecError).message).toContain('table "country": id 4 at row 1, column 2');
  await expect(se.backward(bad, B, F, new Float32Array(15))).rejects.toMatchObject({ code: 'ERR_INDEX_OUT_OF_RANGE' });
  expect(se.getWeights('country')).toEqual(w0);
  expect(se.step).toBe(0);
  const neg = [...DENSE];
  neg[0] = -1;
  expect(() => se.forwardSync(neg, B, F)).toThrow(/table "device": id -1 at row 0, column 0/);
  expect(() => se.forwardSync(DENSE, B, 2)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  expect(() => se.forwardSync(DENSE.slice(0, 6), 2, 3)).not.toThrow();
  expect(() => se.forwardSync(DENSE.slice(0, 6), 3, 2)).toThrow(
    /table "country" reads column 2, but the dense matrix has 2 columns/,
  );
  expect(() => se.forwardSync([0.5, 0, 0], 1, 3)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  await expect(se.backward(DENSE, B, F, new Float32Array(14))).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  expect(() => new SmallEmbeddings({ tables: [{ name: 'x', num_embeddings: 0, embedding_dim: 2, index: 0 }] })).toThrow(
    expect.objectContaining({ code: 'ERR_INVALID_CONFIG' }),
  );
});

test('without an optimizer it runs forward but not backward', async () => {
  const se = new SmallEmbeddings(CONFIG);
  await se.forward(DENSE, B, F);
  await expect(se.backward(DENSE, B, F, new Float32Array(15))).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' });
});
