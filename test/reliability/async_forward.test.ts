/**
 * `forward` is real asynchronous work: the event loop turns while it runs, many can be in flight on
 * one module with the same results as sequential forwardSync, and the caller may scribble over its
 * input arrays the moment forward returns.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, KeyedTensor } from '../../lib';
import { Rng } from '../helpers/random';
import { RandomBatch, randomBatch, toKjt } from '../helpers/random_batch';
import { patternEbc, sameBits, TableDef } from '../helpers/reliability';

const verbose = (...xs: unknown[]) => {
  if (process.env.TORCHREC_TEST_VERBOSE) process.stdout.write(`${xs.join(' ')}\n`);
};

test('the event loop keeps turning while a forward runs', async () => {
  // One 100k x 128 table (51 MB) and 4096 bags of 100 ids: tens of milliseconds of gathering.
  const rows = 100_000;
  const ebc = new EmbeddingBagCollection({
    tables: [{ name: 'big', num_embeddings: rows, embedding_dim: 128 }],
    seed: 3,
  });
  const B = 4096;
  const L = 100;
  const values = new Int32Array(B * L);
  for (let i = 0, x = 12345; i < values.length; i++) values[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % rows;
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['big'], values, lengths: new Int32Array(B).fill(L) });
  const expected = ebc.forwardSync(kjt).values();

  let immediates = 0;
  let intervals = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    immediates++;
    setImmediate(spin);
  };
  const interval = setInterval(() => intervals++, 1);
  const start = process.hrtime.bigint();
  const pending = ebc.forward(kjt);
  setImmediate(spin);
  const kt = await pending;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  done = true;
  clearInterval(interval);
  verbose(
    `forward of ${B}x${L} ids x D=128 took ${ms.toFixed(1)} ms; ${immediates} setImmediate and ${intervals} 1-ms interval ticks fired meanwhile`,
  );

  expect(immediates).toBeGreaterThan(0);
  expect(sameBits(kt.values(), expected)).toBe(true);
  ebc.dispose();
});

const MIXED: TableDef[] = [
  { name: 'a', num_embeddings: 500, embedding_dim: 8, feature_names: ['f1', 'f2'] },
  { name: 'b', num_embeddings: 50, embedding_dim: 5, pooling: 'MEAN', feature_names: ['f2', 'f3'] },
  { name: 'c', num_embeddings: 300, embedding_dim: 16, data_type: 'fp16', feature_names: ['f4'] },
];
const WEIGHTED: TableDef[] = [
  { name: 'a', num_embeddings: 500, embedding_dim: 8, feature_names: ['f1', 'f2'] },
  { name: 'c', num_embeddings: 300, embedding_dim: 16, data_type: 'fp16', feature_names: ['f4'] },
];
const ROWS = { f1: 500, f2: 50, f3: 50, f4: 300 };

/** A KJT in one of four encodings: int32/int64 ids, lengths/offsets, with weights. */
function encode(rng: Rng, b: RandomBatch): KeyedJaggedTensor {
  const int64 = rng.chance(0.5);
  return toKjt(b, { int64, layout: rng.chance(0.5) ? 'lengths' : 'offsets' });
}

test.each([
  ['unweighted (shared features, MEAN, fp16)', MIXED, false, 1],
  ['weighted', WEIGHTED, true, 2],
])('50 forwards in flight on one %s module equal sequential forwardSync', async (_n, tables, weighted, seed) => {
  const ebc = patternEbc(tables, weighted);
  const rng = new Rng(seed);
  const features = [...new Set(tables.flatMap((t) => t.feature_names ?? [t.name]))];
  const kjts = Array.from({ length: 50 }, () =>
    encode(
      rng,
      randomBatch(rng, {
        keys: features,
        rows: ROWS,
        batch: rng.int(1, 64),
        length: rng.int(0, 12),
        weight: (g) => g.int(-8, 8) / 4,
      }),
    ),
  );
  const expected = kjts.map((k) => ebc.forwardSync(k));

  const pending = kjts.map((k) => ebc.forward(k));
  // forwardSync calls interleaved with the async ones must not disturb them either.
  kjts.slice(0, 10).forEach((k, i) => expect(sameBits(ebc.forwardSync(k).values(), expected[i].values())).toBe(true));
  const results: KeyedTensor[] = await Promise.all(pending);

  results.forEach((kt, i) => {
    expect(kt.stride()).toBe(kjts[i].stride());
    expect(kt.keys()).toEqual(ebc.outputKeys());
    expect(sameBits(kt.values(), expected[i].values())).toBe(true);
  });
  // Every result owns its own memory.
  expect(new Set(results.map((kt) => kt.values().buffer)).size).toBe(results.length);
  ebc.dispose();
});

describe('mutating the inputs right after forward() does not change its result', () => {
  const ebc = patternEbc(WEIGHTED, true);
  afterAll(() => ebc.dispose());
  const features = ['f1', 'f2', 'f4'];

  test('lengths layout, int32 ids: values, lengths and weights overwritten before awaiting', async () => {
    const rng = new Rng(11);
    const batches = Array.from({ length: 20 }, () =>
      randomBatch(rng, { keys: features, rows: ROWS, batch: 32, length: 10, weight: (g) => g.int(-8, 8) / 4 }),
    );
    const kjts = batches.map((b) => toKjt(b));
    const expected = kjts.map((k) => ebc.forwardSync(k).values());
    const pending = kjts.map((k) => {
      const p = ebc.forward(k);
      // The typed arrays the KJT holds (the caller's own, by reference).
      (k.values() as Int32Array).fill(1 << 30);
      (k.lengths() as Int32Array).fill(-7);
      (k.weights() as Float32Array).fill(NaN);
      return p;
    });
    (await Promise.all(pending)).forEach((kt, i) => expect(sameBits(kt.values(), expected[i])).toBe(true));
  });

  test('offsets layout, int64 ids: arrays overwritten with other valid data', async () => {
    const rng = new Rng(12);
    const b = randomBatch(rng, { keys: features, rows: ROWS, batch: 48, length: 8, weight: (g) => g.int(-8, 8) / 4 });
    const values = BigInt64Array.from(b.values, (x) => BigInt(x));
    const offsets = new BigInt64Array(b.lengths.length + 1);
    b.lengths.forEach((l, i) => (offsets[i + 1] = offsets[i] + BigInt(l)));
    const weights = Float32Array.from(b.weights!);
    const kjt = KeyedJaggedTensor.fromOffsets({ keys: features, values, offsets, weights });
    const expected = ebc.forwardSync(kjt).values();
    const p = ebc.forward(kjt);
    // Valid but different data: were it read late, the result would silently change.
    values.fill(0n);
    offsets.fill(0n, 1, 2);
    weights.fill(100);
    expect(sameBits((await p).values(), expected)).toBe(true);
    // The KJT still holds the caller's arrays, so a later call sees the new contents.
    expect(sameBits(ebc.forwardSync(kjt).values(), expected)).toBe(false);
  });

  test('a number[] input is copied when the KJT is built', async () => {
    const values = [1, 2, 3, 4];
    const kjt = KeyedJaggedTensor.fromLengths({ keys: features, values, lengths: [1, 1, 2], weights: [1, 1, 1, 1] });
    const expected = ebc.forwardSync(kjt).values();
    values.fill(-1);
    expect(sameBits((await ebc.forward(kjt)).values(), expected)).toBe(true);
  });
});
