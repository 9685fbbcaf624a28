/**
 * EVALUATE forwards of managed tables remap their ids inside the pooling (a run of bags at a time, no
 * rewritten copy of the batch); TRAIN forwards admit, rewrite, then pool. Both must equal
 * remap-then-pool bit for bit: the rows the TypeScript reference of the rules (reference.ts) gives,
 * pooled by a plain twin collection holding the same weights. Random cases: int32 and int64 ids
 * (2^62+7, -5, 0, the extremes), weighted, MEAN, fp16, dims off multiples of 8 and above 64, a table
 * read by two features, a feature read by two managed tables, a plain table beside them, default-row
 * hits, eviction passes in between, and bags long and empty enough to cross the kernel's runs.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, Mode } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { Rng } from '../helpers/random';
import { ManagedIdsRef } from './reference';

const SPECIAL64 = [2n ** 62n + 7n, -5n, 0n, -(2n ** 63n), 2n ** 63n - 1n, 1n];
const SPECIAL32 = [-5n, 0n, 7n, 2n ** 31n - 1n, -(2n ** 31n), 1n];
const PLAIN_ROWS = 30;
const INTERVAL = 2;

interface Case {
  ids32: boolean;
  weighted: boolean;
  rowsA: number;
  rowsB: number;
  dims: [number, number, number];
  meanA: boolean;
  fp16B: boolean;
}

function randomCase(r: Rng): Case {
  const dim = () => r.pick([4, 13, 64, 72, 8, 130]);
  const weighted = r.chance(0.5);
  return {
    ids32: r.chance(0.5),
    weighted,
    rowsA: r.int(12, 40),
    rowsB: r.int(2, 6),
    dims: [dim(), dim(), dim()],
    meanA: !weighted && r.chance(0.6), // TorchRec: per-value weights only with SUM
    fp16B: r.chance(0.5),
  };
}

/** The managed collection (features f, g, h) or its plain twin (fa, g, fb, h: one key per block). */
function make(c: Case, managed: boolean): EmbeddingBagCollection {
  const opt = { optimizer: { sgd: { lr: 0.5 } } };
  const mc = {
    ...opt,
    ...(managed ? { managed_collision: { eviction_policy: 'lfu', eviction_interval: INTERVAL } } : {}),
  };
  return new EmbeddingBagCollection({
    tables: [
      {
        name: 'a',
        num_embeddings: c.rowsA,
        embedding_dim: c.dims[0],
        feature_names: managed ? ['f', 'g'] : ['fa', 'g'],
        pooling: c.meanA ? 'MEAN' : 'SUM',
        ...mc,
      },
      {
        name: 'b',
        num_embeddings: c.rowsB,
        embedding_dim: c.dims[1],
        feature_names: managed ? ['f'] : ['fb'],
        data_type: c.fp16B ? 'FP16' : 'FP32',
        ...mc,
      },
      { name: 'c', num_embeddings: PLAIN_ROWS, embedding_dim: c.dims[2], feature_names: ['h'], ...opt },
    ],
    isWeighted: c.weighted,
    seed: 3,
  });
}

interface Batch {
  lengths: Record<'f' | 'g' | 'h', number[]>;
  values: Record<'f' | 'g' | 'h', bigint[]>;
  weights: Record<'f' | 'g' | 'h', number[]>;
}

function randomBatch(r: Rng, c: Case, universe: bigint[], big: boolean): Batch {
  const b = big ? 2600 : r.int(1, 24);
  const out = { lengths: {}, values: {}, weights: {} } as Batch;
  for (const key of ['f', 'g', 'h'] as const) {
    const lengths = Array.from({ length: b }, () => (big && !r.chance(0.02) ? 0 : r.int(0, 6)));
    if (big && key !== 'h') lengths[r.int(0, b - 1)] = 5000; // one bag longer than a run
    const n = lengths.reduce((x, y) => x + y, 0);
    out.lengths[key] = lengths;
    out.values[key] = Array.from({ length: n }, () =>
      key === 'h' ? BigInt(r.int(0, PLAIN_ROWS - 1)) : r.pick(universe),
    );
    out.weights[key] = Array.from({ length: n }, () => Math.fround(r.next() * 2 - 0.5));
  }
  return out;
}

function kjt(keys: string[], parts: { lengths: number[]; values: bigint[]; weights: number[] }[], c: Case) {
  const values = parts.flatMap((p) => p.values);
  return KeyedJaggedTensor.fromLengths({
    keys,
    values: c.ids32 ? Int32Array.from(values, Number) : BigInt64Array.from(values),
    lengths: Int32Array.from(parts.flatMap((p) => p.lengths)),
    ...(c.weighted ? { weights: Float32Array.from(parts.flatMap((p) => p.weights)) } : {}),
  });
}

function rawKjt(b: Batch, c: Case): KeyedJaggedTensor {
  return kjt(
    ['f', 'g', 'h'],
    [0, 1, 2].map((k) => part(b, (['f', 'g', 'h'] as const)[k])),
    c,
  );
}

function part(b: Batch, key: 'f' | 'g' | 'h', rows?: (id: bigint) => number) {
  return {
    lengths: b.lengths[key],
    values: rows ? b.values[key].map((id) => BigInt(rows(id))) : b.values[key],
    weights: b.weights[key],
  };
}

/** The twin's batch: each managed block's ids replaced by the rows `rowA` / `rowB` give, in order. */
function rowKjt(b: Batch, c: Case, rowA: (id: bigint) => number, rowB: (id: bigint) => number): KeyedJaggedTensor {
  return kjt(['fa', 'g', 'fb', 'h'], [part(b, 'f', rowA), part(b, 'g', rowA), part(b, 'f', rowB), part(b, 'h')], c);
}

async function expectTwin(
  ebc: EmbeddingBagCollection,
  twin: EmbeddingBagCollection,
  got: Float32Array,
  input: KeyedJaggedTensor,
) {
  for (const t of ['a', 'b', 'c']) twin.setWeights(t, ebc.getWeights(t));
  const want = (await twin.forward(input)).values();
  expect(got.length).toBe(want.length);
  // Bit for bit; a mismatch names its first element.
  const first = got.findIndex((x, i) => !Object.is(x, want[i]));
  expect({ first, got: got[first], want: want[first] }).toEqual({ first: -1, got: undefined, want: undefined });
}

async function runCase(seed: number, big: boolean): Promise<void> {
  const r = new Rng(seed);
  const c = randomCase(r);
  const special = c.ids32 ? SPECIAL32 : SPECIAL64;
  const universe = [...special, ...Array.from({ length: 40 }, () => BigInt(r.int(-(2 ** 31), 2 ** 31 - 1)))];
  const ebc = make(c, true);
  const twin = make(c, false);
  const refA = new ManagedIdsRef(c.rowsA, 'lfu', INTERVAL);
  const refB = new ManagedIdsRef(c.rowsB, 'lfu', INTERVAL);
  try {
    for (let step = 0; step < (big ? 2 : 4); step++) {
      // TRAIN: admit (table a: f's ids, then g's; table b: f's), rewrite, pool.
      ebc.setMode(Mode.TRAIN);
      const train = randomBatch(r, c, universe, big);
      const trainOut = (await ebc.forward(rawKjt(train, c))).values();
      for (const id of [...train.values.f, ...train.values.g]) refA.admit(id, step);
      for (const id of train.values.f) refB.admit(id, step);
      // After a batch's admissions every id reads the row its occurrences were given.
      await expectTwin(
        ebc,
        twin,
        trainOut,
        rowKjt(
          train,
          c,
          (id) => refA.find(id),
          (id) => refB.find(id),
        ),
      );

      // EVALUATE: the fused path, on a fresh batch (unseen ids read the default row).
      ebc.setMode(Mode.EVALUATE);
      const evaluate = randomBatch(r, c, universe, big);
      const evalOut = (await ebc.forward(rawKjt(evaluate, c))).values();
      await expectTwin(
        ebc,
        twin,
        evalOut,
        rowKjt(
          evaluate,
          c,
          (id) => refA.find(id),
          (id) => refB.find(id),
        ),
      );
      const again = ebc.forwardSync(rawKjt(evaluate, c)).values();
      expect(again.findIndex((x, i) => !Object.is(x, evalOut[i]))).toBe(-1);

      // A backward (rows the forward read get updated) and, every INTERVAL steps, an eviction pass.
      ebc.setMode(Mode.TRAIN);
      const width = trainOut.length / train.lengths.f.length;
      await ebc.backward(
        rawKjt(train, c),
        Float32Array.from({ length: trainOut.length }, () => r.next() - 0.5),
      );
      expect(width).toBe(c.dims[0] * 2 + c.dims[1] + c.dims[2]);
      refA.afterStep(step + 1);
      refB.afterStep(step + 1);
    }
    expect(ebc.managedIdStats()).toEqual({ a: refA.stats(), b: refB.stats() });
  } finally {
    ebc.dispose();
    twin.dispose();
  }
}

describe('managed ids pooled straight from raw ids equal remap-then-pool', () => {
  test.each(Array.from({ length: 16 }, (_, k) => 101 + k))('seed %i', async (seed) => {
    await runCase(seed, false);
  });

  test.each([7, 8])(
    'long and empty bags across the kernel runs, threads, seed %i',
    async (seed) => {
      await runCase(seed, true);
    },
    60_000,
  );

  test('a plain table beside managed ones still has its ids checked on the fused path', async () => {
    const c: Case = { ids32: false, weighted: false, rowsA: 5, rowsB: 3, dims: [4, 4, 4], meanA: false, fp16B: false };
    const ebc = make(c, true);
    try {
      ebc.setMode(Mode.EVALUATE);
      const bad = KeyedJaggedTensor.fromLengths({
        keys: ['f', 'g', 'h'],
        values: BigInt64Array.of(2n ** 62n + 7n, -5n, BigInt(PLAIN_ROWS)),
        lengths: Int32Array.of(1, 1, 1),
      });
      expectThrows(
        () => ebc.forwardSync(bad),
        'ERR_INDEX_OUT_OF_RANGE',
        'feature "h"',
        `id ${PLAIN_ROWS}`,
        'table "c"',
      );
    } finally {
      ebc.dispose();
    }
  });
});
