/**
 * FBGEMM's stochastic rounding of fp16 rows in the fused optimizers (stochasticRounding, default true):
 * updates far below half an fp16 ulp move a row by their sum in expectation (round-to-nearest drops
 * them all); each written value is one of the two fp16 neighbours of the exact fp32 result; the bits
 * depend on the seed and the call order only (same seed: same bits; 1 and 2 threads: same bits;
 * another seed: other bits).
 */
import { EmbeddingBagCollection, getNumThreads, KeyedJaggedTensor, setNumThreads } from '../../lib';
import { halfToFloat } from '../../lib/checkpoint/dtypes';
import { Rng } from '../helpers/random';

const ROWS = 64;
const DIM = 16;

function collection(o: { seed: number; stochasticRounding?: boolean; rows?: number }): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      {
        name: 't',
        num_embeddings: o.rows ?? ROWS,
        embedding_dim: DIM,
        data_type: 'fp16',
        optimizer: { sgd: { lr: 1 } },
      },
    ],
    seed: o.seed,
    ...(o.stochasticRounding === undefined ? {} : { stochasticRounding: o.stochasticRounding }),
  });
}

/** One bag per row: every row touched once, its gradient `grad` per value. */
function everyRow(rows: number): KeyedJaggedTensor {
  return KeyedJaggedTensor.fromLengths({
    keys: ['t'],
    values: Int32Array.from({ length: rows }, (_, i) => i),
    lengths: new Int32Array(rows).fill(1),
  });
}

async function bits(ebc: EmbeddingBagCollection): Promise<number[]> {
  return [...((await ebc.exportState(['t'])).tables.t.weight as Uint16Array)];
}

test('1000 updates of a tenth of an fp16 ulp move the rows by their sum in expectation; round-to-nearest does not move them', async () => {
  const sr = collection({ seed: 1 });
  const rtn = collection({ seed: 1, stochasticRounding: false });
  for (const m of [sr, rtn]) m.setWeights('t', new Float32Array(ROWS * DIM).fill(1));
  const ulp = 2 ** -10; // fp16 spacing just above 1; an update of -ulp/10 is below half of either spacing around 1
  const steps = 1000;
  const kjt = everyRow(ROWS);
  const grad = new Float32Array(ROWS * DIM).fill(ulp / 10); // sgd lr 1: w -= ulp/10 per step
  for (let s = 0; s < steps; s++) {
    await sr.backward(kjt, grad);
    await rtn.backward(kjt, grad);
  }
  expect([...new Set(rtn.getWeights('t'))]).toEqual([1]);
  const w = sr.getWeights('t');
  const mean = w.reduce((a, b) => a + b, 0) / w.length;
  const expected = 1 - (steps * ulp) / 10; // 0.902...
  // Each value is a random walk with step variance below (ulp/2)^2: its sd after 1000 steps is under
  // 0.016, the mean of 1024 independent values' under 5e-4; 0.004 is eight of those.
  expect(Math.abs(mean - expected)).toBeLessThan(0.004);
  expect(Math.min(...w)).toBeGreaterThan(expected - 0.1);
  expect(Math.max(...w)).toBeLessThan(expected + 0.1);
  sr.dispose();
  rtn.dispose();
});

test('each written value is one of the two fp16 neighbours of the exact fp32 result', async () => {
  const ebc = collection({ seed: 4 });
  const before = ebc.getWeights('t');
  const r = new Rng(9);
  const grad = Float32Array.from({ length: ROWS * DIM }, () => (r.next() - 0.5) * 1e-3);
  await ebc.backward(everyRow(ROWS), grad);
  const after = await bits(ebc);
  let up = 0;
  let down = 0;
  for (let i = 0; i < after.length; i++) {
    const exact = Math.fround(before[i] - grad[i]);
    const got = halfToFloat(after[i]);
    // the neighbours: got itself, and the next fp16 value toward or away from zero
    const next = halfToFloat(after[i] + 1);
    const prev = halfToFloat(after[i] - 1);
    const between = (got <= exact && exact <= next) || (prev <= exact && exact <= got) || got === exact;
    const mirrored = (got >= exact && exact >= next) || (prev >= exact && exact >= got);
    expect(between || mirrored).toBe(true);
    if (Math.abs(got) > Math.abs(exact)) up++;
    if (Math.abs(got) < Math.abs(exact)) down++;
  }
  // Random: both directions happen (round-to-nearest would also give both, but never this split by chance).
  expect(up).toBeGreaterThan(50);
  expect(down).toBeGreaterThan(50);
  ebc.dispose();
});

test('same seed and calls: same bits; another seed: other bits from the same weights', async () => {
  const run = async (seed: number): Promise<number[]> => {
    const ebc = collection({ seed });
    ebc.setWeights(
      't',
      Float32Array.from({ length: ROWS * DIM }, (_, i) => Math.sin(i)),
    );
    const r = new Rng(3);
    for (let s = 0; s < 5; s++) {
      const grad = Float32Array.from({ length: ROWS * DIM }, () => (r.next() - 0.5) * 1e-3);
      await ebc.backward(everyRow(ROWS), grad);
    }
    const out = await bits(ebc);
    ebc.dispose();
    return out;
  };
  const a = await run(7);
  expect(await run(7)).toEqual(a);
  const other = await run(8);
  const differing = other.filter((x, i) => x !== a[i]).length;
  expect(differing).toBeGreaterThan(a.length / 10);
});

test('1 and 2 threads write the same bits (a batch big enough for the threaded update)', async () => {
  const rows = 5000;
  const r = new Rng(21);
  const ids = Int32Array.from({ length: 4096 * 4 }, () => r.int(0, rows - 1));
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: ids, lengths: new Int32Array(4096).fill(4) });
  const grad = Float32Array.from({ length: 4096 * DIM }, () => (r.next() - 0.5) * 1e-3);
  const before = getNumThreads();
  const run = async (threads: number): Promise<number[]> => {
    setNumThreads(threads);
    const ebc = collection({ seed: 5, rows });
    for (let s = 0; s < 3; s++) await ebc.backward(kjt, grad);
    const out = await bits(ebc);
    ebc.dispose();
    return out;
  };
  try {
    const one = await run(1);
    expect(await run(2)).toEqual(one);
  } finally {
    setNumThreads(before);
  }
});

test('stochasticRounding must be a boolean', () => {
  expect(() => collection({ seed: 1, stochasticRounding: 'yes' as unknown as boolean })).toThrow(
    expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringMatching(/stochasticRounding/) }),
  );
});
