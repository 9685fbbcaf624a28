/**
 * What an eviction pass does to the rows that change hands: re-initialised with the table's init
 * rule (the same values a fresh collection with the same seed starts with) and optimizer state
 * zeroed; and the regression TorchRec users hit: with row-wise Adagrad an admitted row must never be
 * left at zero.
 */
import { EmbeddingBagCollection } from '../../lib';
import { Rng } from '../helpers/random';
import { DIM, batch, managedEbc } from './helpers';

const ROWS = 5;

function row(w: Float32Array, r: number): number[] {
  return Array.from(w.subarray(r * DIM, (r + 1) * DIM));
}

function grad(bags: number, r: Rng): Float32Array {
  return Float32Array.from({ length: bags * DIM }, () => r.next() * 2 - 1);
}

describe.each([
  ['rowwise_adagrad', { rowwise_adagrad: { lr: 0.1 } }],
  ['adam', { adam: { lr: 0.05 } }],
])('an evicted row with %s', (_name, optimizer) => {
  let ebc: EmbeddingBagCollection;
  let fresh: EmbeddingBagCollection;
  beforeEach(() => {
    ebc = managedEbc({ rows: ROWS, policy: 'lfu', interval: 1, optimizer, seed: 3 });
    fresh = managedEbc({ rows: ROWS, policy: 'lfu', interval: 1, optimizer, seed: 3 });
  });
  afterEach(() => {
    ebc.dispose();
    fresh.dispose();
  });

  test('is re-initialised, its state zeroed, and the newcomer trains from there', async () => {
    const r = new Rng(5);
    const initial = fresh.getWeights('t');
    // Step 1: ids 1..4 take rows 0..3 and are trained.
    const k1 = batch([[1n], [2n], [3n], [4n]]);
    await ebc.forward(k1);
    await ebc.backward(k1, grad(4, r));
    const trained = ebc.getWeights('t');
    expect(row(trained, 3)).not.toEqual(row(initial, 3));
    // Step 2: id 9 three times (waits, reads the default row), id 1 again. The pass after it ranks
    // 9 (3) > 1 (2) > 2, 3, 4 (1 each; ties to the lower id): 4 loses row 3 to 9.
    const k2 = batch([[9n, 9n, 9n], [1n]]);
    await ebc.forward(k2);
    expect(ebc.managedIdStats().t).toMatchObject({ residents: 4, waiting: 1, defaultRowHits: 3 });
    await ebc.backward(k2, grad(2, r));
    expect(ebc.managedIdStats().t).toMatchObject({ residents: 4, waiting: 0, admitted: 5, evicted: 1 });

    const after = ebc.getWeights('t');
    expect(row(after, 3)).toEqual(row(initial, 3));
    for (const values of Object.values(ebc.optimizerState('t'))) {
      const width = values.length / ROWS;
      expect(Array.from(values.subarray(3 * width, 4 * width)).every((x) => x === 0)).toBe(true);
      // Rows 0..2 keep their state: they were trained and not evicted.
      expect(Array.from(values.subarray(0, width)).some((x) => x !== 0)).toBe(true);
    }
    // Rows that were not evicted keep their trained values.
    for (const keep of [0, 1, 2]) expect(row(after, keep)).not.toEqual(row(initial, keep));

    // Step 3: 9 now reads row 3, which trains from its initial values; never from zero.
    const k3 = batch([[9n]]);
    const out = (await ebc.forward(k3)).values();
    expect(Array.from(out)).toEqual(row(initial, 3));
    await ebc.backward(k3, grad(1, r));
    const stepped = ebc.getWeights('t');
    expect(row(stepped, 3)).not.toEqual(row(initial, 3));
    for (let rr = 0; rr < ROWS - 1; rr++) {
      expect(row(stepped, rr).every(Number.isFinite)).toBe(true);
      expect(row(stepped, rr).some((x) => x !== 0)).toBe(true);
    }
  });
});

test('row-wise Adagrad never leaves an admitted row at zero over many passes', async () => {
  const ebc = managedEbc({ rows: 9, policy: 'distance_lfu', interval: 2, optimizer: { rowwise_adagrad: { lr: 0.5 } } });
  const r = new Rng(21);
  try {
    for (let step = 0; step < 40; step++) {
      const bags = Array.from({ length: 6 }, () => [BigInt(r.int(-20, 20)), BigInt(r.int(0, 3))]);
      const kjt = batch(bags);
      await ebc.forward(kjt);
      await ebc.backward(kjt, grad(6, r));
      const w = ebc.getWeights('t');
      for (let rr = 0; rr < 8; rr++) {
        const v = row(w, rr);
        expect(v.every(Number.isFinite)).toBe(true);
        expect(v.some((x) => x !== 0)).toBe(true);
      }
    }
    expect(ebc.managedIdStats().t.evicted).toBeGreaterThan(0);
  } finally {
    ebc.dispose();
  }
});
