/**
 * Seeded Zipf streams of raw ids through a managed table, step by step against the TS reference
 * model (reference.ts): after every training step the resident set, the row each id reads and the
 * counters (admitted, evicted, waiting, default-row hits) must be the reference's, for every policy.
 * SGD with zero gradients keeps every row at its initial values, so the row an id reads can be
 * observed from outside (helpers.ts observedRows) without trusting any export of the map.
 */
import { ManagedIdsRef, Policy } from './reference';
import { batch, managedEbc, observedRows, zipfStream } from './helpers';
import { Rng } from '../helpers/random';

const ODD = [0n, -5n, 2n ** 62n + 7n, -(2n ** 63n), 2n ** 63n - 1n, 1n, -1n];

function universe(n: number, seed: number): bigint[] {
  const r = new Rng(seed);
  const out = [...ODD];
  while (out.length < n) {
    const id = BigInt.asIntN(64, (BigInt(r.int(0, 2 ** 31)) << 32n) ^ BigInt(r.int(0, 2 ** 31)));
    if (!out.includes(id)) out.push(id);
  }
  // Shuffle so the odd ids land anywhere in the Zipf ranks.
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const CASES: { policy: Policy; interval: number; decay?: number; maxWaiting?: number; seed: number }[] = [
  { policy: 'lfu', interval: 3, seed: 11 },
  { policy: 'lru', interval: 2, seed: 12 },
  { policy: 'distance_lfu', interval: 3, decay: 1, seed: 13 },
  { policy: 'distance_lfu', interval: 1, decay: 2, seed: 14 },
  { policy: 'lfu', interval: 4, maxWaiting: 3, seed: 15 },
];

describe.each(CASES)('managed ids follow the reference: %o', ({ policy, interval, decay, maxWaiting, seed }) => {
  test('resident sets, row assignments and counters after every step of a Zipf stream', async () => {
    const ROWS = 17;
    const ids = universe(60, seed);
    const ebc = managedEbc({ rows: ROWS, policy, interval, decay, maxWaiting, optimizer: { sgd: { lr: 0.5 } } });
    const ref = new ManagedIdsRef(ROWS, policy, interval, decay ?? 1, maxWaiting ?? ROWS);
    const next = zipfStream(ids, 1.1, seed);
    const r = new Rng(seed + 1000);
    let evictions = 0;
    try {
      for (let step = 0; step < 30; step++) {
        const bags = Array.from({ length: 8 }, () => Array.from({ length: r.int(0, 4) }, next));
        for (const id of bags.flat()) ref.admit(id, step);
        const kjt = batch(bags);
        await ebc.forward(kjt);
        await ebc.backward(kjt, new Float32Array(8 * 4));
        evictions += ref.afterStep(step + 1).length;

        expect(ebc.managedIdStats()).toEqual({ t: ref.stats() });
        expect(await observedRows(ebc, ids)).toEqual(ids.map((id) => ref.find(id)));
      }
      // The stream must have exercised the pass: rows changed hands and the default row was hit.
      expect(evictions).toBeGreaterThan(0);
      expect(ref.stats().defaultRowHits).toBeGreaterThan(0);
      if (maxWaiting !== undefined) expect(ref.stats().waitingDropped).toBeGreaterThan(0);
    } finally {
      ebc.dispose();
    }
  });
});
