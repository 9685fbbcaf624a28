/**
 * Learning rates: update t uses computeLearningRate(schedule, t - 1) when the table's OptimizerConfig
 * (or the collection's EmbeddingOptimizerConfig) has a schedule, else the algorithm's lr; one global
 * step counter. Checked through SGD, where a row with gradient g moves by exactly -lr * g.
 */
import {
  computeLearningRate,
  EmbeddingBagCollection,
  KeyedJaggedTensor,
  LargeEmbeddings,
  LearningRate,
} from '../../lib';
import { maxAbsDiff } from '../helpers/golden';

const PIECEWISE = {
  piecewise_constant: { learning_rate_boundaries: [1, 3], learning_rate_values: [0.5, 0.25, 0.125] },
};
const RAMP = { linear_ramp_to_constant: { learning_rate: 0.4, num_ramp_steps: 4 } };
const COSINE = {
  linear_ramp_to_cosine: { learning_rate: 0.3, final_learning_rate: 0.05, num_ramp_steps: 2, final_num_steps: 5 },
};

/** Tables a, b, c, each 4 x 2, read by features fa, fb, fc. */
function build(optimizers: { a?: object; b?: object; c?: object }, collection?: object): EmbeddingBagCollection {
  const table = (name: string, optimizer?: object) => ({
    name,
    num_embeddings: 4,
    embedding_dim: 2,
    feature_names: [`f${name}`],
    ...(optimizer ? { optimizer } : {}),
  });
  const ebc = new EmbeddingBagCollection({
    tables: [table('a', optimizers.a), table('b', optimizers.b), table('c', optimizers.c)],
    seed: 3,
    optimizer: collection,
  });
  for (const t of ['a', 'b', 'c']) ebc.setWeights(t, new Float32Array(8));
  return ebc;
}

/** Every feature reads row 1 once, for a batch of one; the gradient is all ones. */
function oneRowBatch(row = 1): [KeyedJaggedTensor, Float32Array] {
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['fa', 'fb', 'fc'], values: [row, row, row], lengths: [1, 1, 1] });
  return [kjt, new Float32Array(6).fill(1)];
}

/** How far row 1 of each table has moved down since it started at 0 (the sum of the rates used). */
function moved(ebc: EmbeddingBagCollection): Record<string, number> {
  return Object.fromEntries(['a', 'b', 'c'].map((t) => [t, -ebc.getWeights(t)[2]]));
}

function expectedSums(schedule: object | number, steps: number): number {
  let sum = 0;
  for (let t = 1; t <= steps; t++) {
    sum += Math.fround(typeof schedule === 'number' ? schedule : computeLearningRate(schedule, t - 1));
  }
  return sum;
}

test('per-table schedules, a constant lr and the collection schedule, over 6 steps', async () => {
  const ebc = build(
    { a: { sgd: { lr: 9 }, learning_rate: PIECEWISE }, b: { sgd: { lr: 0.375 } } },
    { init_learning_rate: 7, learning_rate: COSINE },
  );
  for (let t = 1; t <= 6; t++) {
    await ebc.backward(...oneRowBatch());
    expect(ebc.step).toBe(t);
    const m = moved(ebc);
    // The schedule wins over the algorithm's lr (9) and over init_learning_rate (7).
    expect(m.a).toBeCloseTo(expectedSums(PIECEWISE, t), 6);
    expect(m.b).toBeCloseTo(expectedSums(0.375, t), 6);
    expect(m.c).toBeCloseTo(expectedSums(COSINE, t), 6);
  }
  // t = 1 uses step 0 of each schedule: piecewise 0.5, cosine ramp 0.
  expect(computeLearningRate(new LearningRate(COSINE), 0)).toBe(0);
});

test('a collection EmbeddingOptimizerConfig without schedule is SGD at init_learning_rate', async () => {
  const ebc = build({ a: { sgd: { lr: 0.5 } } }, { init_learning_rate: 0.125 });
  await ebc.backward(...oneRowBatch());
  await ebc.backward(...oneRowBatch());
  expect(moved(ebc)).toEqual({ a: 1, b: 0.25, c: 0.25 });
});

test('a schedule drives non-SGD optimizers too (Adagrad at 2 steps)', async () => {
  const ebc = build({
    a: { adagrad: { lr: 100, eps: 0 }, learning_rate: RAMP },
    b: { sgd: { lr: 0 } },
    c: { sgd: { lr: 0 } },
  });
  await ebc.backward(...oneRowBatch());
  await ebc.backward(...oneRowBatch());
  // g = 1 each step: m = 1 then 2; w -= lr_t * 1 / sqrt(m). Step 1 uses ramp(0) = 0, step 2 ramp(1) = 0.1.
  const lr2 = Math.fround(computeLearningRate(RAMP, 1));
  expect(-ebc.getWeights('a')[2]).toBeCloseTo(lr2 / Math.sqrt(2), 6);
  expect(maxAbsDiff(ebc.optimizerState('a').momentum1, [0, 0, 2, 2, 0, 0, 0, 0])).toBe(0);
});

test('backwards issued together use the rate of the step each one becomes, even when one fails', async () => {
  const ebc = build(
    { a: { sgd: { lr: 1 }, learning_rate: PIECEWISE } },
    { init_learning_rate: 1, learning_rate: RAMP },
  );
  const [kjt, grad] = oneRowBatch();
  const bad = KeyedJaggedTensor.fromLengths({ keys: ['fa', 'fb', 'fc'], values: [1, 99, 1], lengths: [1, 1, 1] });
  // Issued without waiting: the second fails in the pool (id 99 is out of range), so the third
  // becomes step 2, not step 3, and must use step 2's rates.
  const results = await Promise.allSettled([ebc.backward(kjt, grad), ebc.backward(bad, grad), ebc.backward(kjt, grad)]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((results[1] as PromiseRejectedResult).reason.code).toBe('ERR_INDEX_OUT_OF_RANGE');
  expect(ebc.step).toBe(2);
  const m = moved(ebc);
  expect(m.a).toBeCloseTo(expectedSums(PIECEWISE, 2), 6);
  expect(m.b).toBeCloseTo(expectedSums(RAMP, 2), 6);
  expect(m.c).toBeCloseTo(expectedSums(RAMP, 2), 6);
});

test('LargeEmbeddings trains its tables with the config optimizer, per-table optimizers first', async () => {
  const le = new LargeEmbeddings(
    {
      tables: [
        { name: 'user', num_embeddings: 5, embedding_dim: 2, optimizer: { sgd: { lr: 0.5 } } },
        { name: 'item', num_embeddings: 5, embedding_dim: 2 },
      ],
      optimizer: { init_learning_rate: 0.25, learning_rate: { constant: 0.125 } },
    },
    { seed: 11 },
  );
  le.ebc.setWeights('user', new Float32Array(10));
  le.ebc.setWeights('item', new Float32Array(10));
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['user', 'item'], values: [3, 4], lengths: [1, 1] });
  await le.backward(kjt, Float32Array.from([1, 2, 1, 2]));
  expect(le.step).toBe(1);
  expect(Array.from(le.ebc.getWeights('user').subarray(6, 8))).toEqual([-0.5, -1]);
  expect(Array.from(le.ebc.getWeights('item').subarray(8, 10))).toEqual([-0.125, -0.25]);
});

test('setStep (checkpoint restore) makes schedules and Adam bias correction continue from there', async () => {
  const schedule = { piecewise_constant: { learning_rate_boundaries: [5], learning_rate_values: [0.5, 0.25] } };
  const ebc = build({ a: { sgd: { lr: 1 }, learning_rate: schedule }, b: { sgd: { lr: 0 } }, c: { sgd: { lr: 0 } } });
  ebc.setStep(7);
  expect(ebc.step).toBe(7);
  await ebc.backward(...oneRowBatch());
  expect(ebc.step).toBe(8);
  expect(moved(ebc).a).toBe(0.25); // update 8 uses computeLearningRate(schedule, 7)
  expect(() => ebc.setStep(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  expect(() => ebc.setStep(1.5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));

  // Adam at t = 8: bias corrections 1 - beta^8, so the first move is not simply lr * sign(g).
  const adam = build({ a: { adam: { lr: 0.1, eps: 0 } }, b: { sgd: { lr: 0 } }, c: { sgd: { lr: 0 } } });
  adam.setStep(7);
  await adam.backward(...oneRowBatch());
  const m = 0.1;
  const v = 0.001;
  const want = (0.1 * (m / (1 - 0.9 ** 8))) / Math.sqrt(v / (1 - 0.999 ** 8));
  expect(moved(adam).a).toBeCloseTo(want, 5);
});
