/**
 * Tables with a `vocab`: raw 64-bit entity ids are mapped to rows through the table's parquet
 * vocabulary in forward and backward. Every result is checked against a vocab-less twin collection
 * with the same weights fed the pre-mapped rows (or against sums of the weights computed here).
 */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings, TorchrecError } from '../../lib';
import { maxAbsDiff } from '../helpers/golden';
import { tmpDir, writeVocab } from './helpers';

const USER_ROWS = 8;
// Entity ids far outside int32 and the table, mapped to a permutation of the rows.
const ENTITY = (k: number): bigint => 1_000_000_000_000n + BigInt(k) * 7919n;
const PERM = [5, 2, 7, 0, 3, 6, 1, 4];
const MISSING = [42n, -9n, 1_000_000_000_000n + 1n];

let root: string;
let vocabFile: string;

beforeAll(() => {
  root = tmpDir('fb');
  vocabFile = writeVocab(
    path.join(root, 'user_vocab.parquet'),
    PERM.map((_, k) => ENTITY(k)),
    PERM,
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function mapped(id: bigint, oov = -1): number {
  for (let k = 0; k < PERM.length; k++) if (ENTITY(k) === id) return PERM[k];
  return oov;
}

interface Pair {
  withVocab: EmbeddingBagCollection;
  twin: EmbeddingBagCollection;
}

async function pair(o: {
  pooling?: 'SUM' | 'MEAN';
  oov?: number;
  isWeighted?: boolean;
  vocab?: string;
  train?: boolean;
}): Promise<Pair> {
  const opt = o.train ? { optimizer: { sgd: { lr: 0.5 } } } : {};
  const tables = [
    { name: 'user', num_embeddings: USER_ROWS, embedding_dim: 4, pooling: o.pooling ?? 'SUM', ...opt },
    { name: 'item', num_embeddings: 5, embedding_dim: 3, ...opt },
  ];
  const withVocab = new EmbeddingBagCollection({
    tables: [{ ...tables[0], vocab: o.vocab ?? vocabFile }, tables[1]],
    seed: 3,
    isWeighted: o.isWeighted,
    vocabOov: o.oov === undefined ? undefined : { user: o.oov },
  });
  const twin = new EmbeddingBagCollection({ tables, seed: 99, isWeighted: o.isWeighted });
  await withVocab.ready;
  for (const t of ['user', 'item']) twin.setWeights(t, withVocab.getWeights(t));
  return { withVocab, twin };
}

/** Raw user bags (entity ids) + item bags (rows); the twin gets the user bags mapped (missing dropped or OOV). */
function batches(
  userBags: bigint[][],
  itemBags: number[][],
  oov = -1,
  weights?: number[][],
): { raw: KeyedJaggedTensor; premapped: KeyedJaggedTensor } {
  const userMapped = userBags.map((bag) => bag.map((id) => mapped(id, oov)));
  const keep = userMapped.map((bag) => bag.map((r) => r >= 0));
  const raw = KeyedJaggedTensor.fromLengths({
    keys: ['user', 'item'],
    values: BigInt64Array.from([...userBags.flat(), ...itemBags.flat().map((x) => BigInt(x))]),
    lengths: [...userBags.map((b) => b.length), ...itemBags.map((b) => b.length)],
    weights: weights ? weights.flat() : undefined,
  });
  const premapped = KeyedJaggedTensor.fromLengths({
    keys: ['user', 'item'],
    values: [...userMapped.flat().filter((r) => r >= 0), ...itemBags.flat()],
    lengths: [...userMapped.map((b) => b.filter((r) => r >= 0).length), ...itemBags.map((b) => b.length)],
    weights: weights
      ? [
          ...weights.slice(0, userBags.length).flatMap((w, b) => w.filter((_, i) => keep[b][i])),
          ...weights.slice(userBags.length).flat(),
        ]
      : undefined,
  });
  return { raw, premapped };
}

describe('vocab tables: forward', () => {
  test('raw entity ids pool exactly like the pre-mapped rows on a vocab-less twin', async () => {
    const { withVocab, twin } = await pair({});
    const { raw, premapped } = batches(
      [[ENTITY(0), ENTITY(3)], [ENTITY(7)], [], [ENTITY(1), ENTITY(1), ENTITY(6)]],
      [[0, 4], [], [2], [1]],
    );
    const got = await withVocab.forward(raw);
    const want = await twin.forward(premapped);
    expect(got.keys()).toEqual(['user', 'item']);
    expect(maxAbsDiff(got.values(), want.values())).toBe(0);
    expect(maxAbsDiff(withVocab.forwardSync(raw).values(), want.values())).toBe(0);
    // Two forwards: 6 lookups each, none missing.
    expect(withVocab.vocabStats()).toEqual({ user: { lookups: 12, missing: 0 } });
  });

  test('missing ids are skipped and counted; MEAN divides by the ids that remain', async () => {
    const { withVocab, twin } = await pair({ pooling: 'MEAN' });
    const { raw, premapped } = batches(
      [[ENTITY(2), MISSING[0], ENTITY(5)], [MISSING[1], MISSING[2]], [ENTITY(4)]],
      [[1], [3], [0, 0]],
    );
    const got = await withVocab.forward(raw);
    const want = await twin.forward(premapped);
    expect(maxAbsDiff(got.values(), want.values())).toBeLessThan(1e-6);
    // The all-missing bag pools to zeros.
    expect(Array.from(got.toDict().user.slice(4, 8))).toEqual([0, 0, 0, 0]);
    // Bag 0 is the mean of exactly two rows.
    const w = withVocab.getWeights('user');
    for (let d = 0; d < 4; d++) {
      expect(got.toDict().user[d]).toBeCloseTo((w[PERM[2] * 4 + d] + w[PERM[5] * 4 + d]) / 2, 6);
    }
    expect(withVocab.vocabStats()).toEqual({ user: { lookups: 6, missing: 3 } });
  });

  test('per-value weights follow their ids when ids are skipped', async () => {
    const { withVocab, twin } = await pair({ isWeighted: true });
    const weights = [[0.5, 2, -1], [3], [1.5], [0.25, 4]];
    const { raw, premapped } = batches([[ENTITY(1), MISSING[0], ENTITY(2)], [MISSING[2]]], [[1], [2, 3]], -1, weights);
    const got = await withVocab.forward(raw);
    const want = await twin.forward(premapped);
    expect(maxAbsDiff(got.values(), want.values())).toBeLessThan(1e-6);
  });

  test('vocabOov: missing ids are looked up at the OOV row, and still counted', async () => {
    const { withVocab, twin } = await pair({ oov: 6 });
    const { raw, premapped } = batches(
      [[ENTITY(0), MISSING[0]], [MISSING[1]], [ENTITY(7), ENTITY(2)]],
      [[], [], [4]],
      6,
    );
    const got = await withVocab.forward(raw);
    const want = await twin.forward(premapped);
    expect(maxAbsDiff(got.values(), want.values())).toBe(0);
    expect(withVocab.vocabStats()).toEqual({ user: { lookups: 5, missing: 2 } });
  });

  test('a directory of several parquet files (entity_id, index) is read as one vocabulary, in name order', async () => {
    const dir = path.join(root, 'multi');
    // b.parquet holds the second half; a non-parquet file is ignored.
    writeVocab(path.join(dir, 'b.parquet'), [4, 5, 6, 7].map(ENTITY), PERM.slice(4), ['entity_id', 'index']);
    writeVocab(path.join(dir, 'a.parquet'), [0, 1, 2, 3].map(ENTITY), PERM.slice(0, 4), ['entity_id', 'index']);
    fs.writeFileSync(path.join(dir, 'README.txt'), 'not a vocabulary');
    const { withVocab, twin } = await pair({ vocab: dir });
    const { raw, premapped } = batches([[0, 1, 2, 3, 4, 5, 6, 7].map(ENTITY), [ENTITY(6)]], [[0], [1]]);
    expect(maxAbsDiff((await withVocab.forward(raw)).values(), (await twin.forward(premapped)).values())).toBe(0);
  });

  test('a large vocabulary in several row groups with an INT32 row column', async () => {
    const n = 60_000;
    const rowsN = 1000;
    const id = (k: number): bigint => BigInt(k) * 1_000_003n - 5_000_000_000n;
    const rowOf = (k: number): number => (k * 31) % rowsN;
    const ks = Array.from({ length: n }, (_, k) => k);
    const file = writeVocab(path.join(root, 'large.parquet'), ks.map(id), ks.map(rowOf), ['id', 'row'], {
      rowGroupSize: 7_000,
      rowType: 'INT32',
    });
    const m = new EmbeddingBagCollection({
      tables: [{ name: 'big', num_embeddings: rowsN, embedding_dim: 3, vocab: file }],
      seed: 4,
    });
    const twin = new EmbeddingBagCollection({
      tables: [{ name: 'big', num_embeddings: rowsN, embedding_dim: 3 }],
      seed: 5,
    });
    await m.ready;
    twin.setWeights('big', m.getWeights('big'));
    const picks = [0, 1, 6_999, 7_000, 7_001, 13_999, 14_000, 35_123, 59_998, 59_999];
    const raw = KeyedJaggedTensor.fromLengths({
      keys: ['big'],
      values: BigInt64Array.from(picks.map(id)),
      lengths: [3, 3, 4],
    });
    const premapped = KeyedJaggedTensor.fromLengths({ keys: ['big'], values: picks.map(rowOf), lengths: [3, 3, 4] });
    expect(maxAbsDiff((await m.forward(raw)).values(), (await twin.forward(premapped)).values())).toBe(0);
    expect(m.vocabStats()).toEqual({ big: { lookups: 10, missing: 0 } });
  });

  test('a feature read by a vocab table and a plain table: each table sees its own ids', async () => {
    const file = writeVocab(path.join(root, 'small.parquet'), [2, 3, 9], [5, 0, 1]);
    const m = new EmbeddingBagCollection({
      tables: [
        { name: 'a', num_embeddings: 6, embedding_dim: 2, feature_names: ['f'], vocab: file },
        { name: 'b', num_embeddings: 6, embedding_dim: 2, feature_names: ['f'] },
      ],
      seed: 1,
    });
    await m.ready;
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['f'], values: [2, 3, 4], lengths: [2, 1] });
    const out = await m.forward(kjt);
    expect(out.keys()).toEqual(['f@a', 'f@b']);
    const wa = m.getWeights('a');
    const wb = m.getWeights('b');
    const row = (w: Float32Array, r: number): number[] => [w[r * 2], w[r * 2 + 1]];
    const sum = (rows: number[][]): number[] => rows.reduce((s, r) => [s[0] + r[0], s[1] + r[1]], [0, 0]);
    const d = out.toDict();
    // a: 2 -> 5, 3 -> 0; 4 is not in the vocabulary (skipped).
    expect(Array.from(d['f@a'])).toEqual([...sum([row(wa, 5), row(wa, 0)]), 0, 0].map((x) => Math.fround(x)));
    // b reads the raw ids as rows.
    expect(maxAbsDiff(d['f@b'], [...sum([row(wb, 2), row(wb, 3)]), ...row(wb, 4)])).toBeLessThan(1e-6);
    expect(m.vocabStats()).toEqual({ a: { lookups: 3, missing: 1 } });
  });

  test('ids of plain tables are still range-checked after the mapping', async () => {
    const { withVocab } = await pair({});
    const { raw } = batches([[ENTITY(0)]], [[9]]);
    await expect(withVocab.forward(raw)).rejects.toMatchObject({ code: 'ERR_INDEX_OUT_OF_RANGE' });
  });
});

describe('vocab tables: LargeEmbeddings', () => {
  test("a LargeEmbeddingsConfig table's vocab is applied (missing ids skipped)", async () => {
    const le = new LargeEmbeddings(
      { tables: [{ name: 'user', num_embeddings: USER_ROWS, embedding_dim: 4, vocab: vocabFile }] },
      { seed: 5 },
    );
    await le.ready;
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: ['user'],
      values: BigInt64Array.from([ENTITY(3), MISSING[0]]),
      lengths: [2],
    });
    const w = le.ebc.getWeights('user');
    expect(Array.from((await le.forward(kjt)).values())).toEqual(Array.from(w.slice(PERM[3] * 4, PERM[3] * 4 + 4)));
    expect(le.ebc.vocabStats()).toEqual({ user: { lookups: 2, missing: 1 } });
  });
});

describe('vocab tables: backward', () => {
  test('SGD updates exactly the mapped rows, like the twin; skipped ids contribute nothing', async () => {
    const { withVocab, twin } = await pair({ train: true, pooling: 'MEAN' });
    const before = withVocab.getWeights('user');
    const userBags = [[ENTITY(1), MISSING[0]], [ENTITY(4), ENTITY(1)], [MISSING[1]]];
    const { raw, premapped } = batches(userBags, [[0], [2], []]);
    const grad = Float32Array.from({ length: 3 * 7 }, (_, i) => Math.sin(i + 1));
    await withVocab.backward(raw, grad);
    await twin.backward(premapped, grad);
    expect(maxAbsDiff(withVocab.getWeights('user'), twin.getWeights('user'))).toBe(0);
    expect(maxAbsDiff(withVocab.getWeights('item'), twin.getWeights('item'))).toBe(0);
    const after = withVocab.getWeights('user');
    const touched = new Set([PERM[1], PERM[4]]);
    for (let r = 0; r < USER_ROWS; r++) {
      const changed = [0, 1, 2, 3].some((d) => after[r * 4 + d] !== before[r * 4 + d]);
      expect(changed).toBe(touched.has(r));
    }
    // Backward maps without counting: no forward ran.
    expect(withVocab.vocabStats()).toEqual({ user: { lookups: 0, missing: 0 } });
  });

  test('forward, backward, forward issued together apply in call order, like the twin', async () => {
    const { withVocab, twin } = await pair({ train: true });
    const { raw, premapped } = batches([[ENTITY(2), MISSING[2]], [ENTITY(5)]], [[3], [4]]);
    const grad = Float32Array.from({ length: 2 * 7 }, (_, i) => 1 - i / 7);
    const a = [withVocab.forward(raw), withVocab.backward(raw, grad), withVocab.forward(raw)] as const;
    const b = [twin.forward(premapped), twin.backward(premapped, grad), twin.forward(premapped)] as const;
    const [a0, , a2] = await Promise.all(a);
    const [b0, , b2] = await Promise.all(b);
    expect(maxAbsDiff(a0.values(), b0.values())).toBe(0);
    expect(maxAbsDiff(a2.values(), b2.values())).toBe(0);
    expect(maxAbsDiff(a0.values(), a2.values())).toBeGreaterThan(0);
  });

  test('OOV row mode trains the OOV row', async () => {
    const { withVocab, twin } = await pair({ train: true, oov: 3 });
    const { raw, premapped } = batches([[MISSING[0]], [ENTITY(2)]], [[1], [1]], 3);
    const grad = Float32Array.from({ length: 2 * 7 }, (_, i) => 0.1 * (i + 1));
    await withVocab.backward(raw, grad);
    await twin.backward(premapped, grad);
    expect(maxAbsDiff(withVocab.getWeights('user'), twin.getWeights('user'))).toBe(0);
  });
});

describe('vocab tables: before ready', () => {
  test('forward, forwardSync and backward before the vocabulary is loaded fail clearly; after ready they work', async () => {
    const m = new EmbeddingBagCollection({
      tables: [
        { name: 'user', num_embeddings: USER_ROWS, embedding_dim: 4, vocab: vocabFile, optimizer: { sgd: { lr: 1 } } },
      ],
      seed: 2,
    });
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: ['user'],
      values: BigInt64Array.from([ENTITY(0)]),
      lengths: [1],
    });
    const early = m.forward(kjt);
    await expect(early).rejects.toBeInstanceOf(TorchrecError);
    await expect(early).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: 'await ebc.ready before forward: the vocabulary of table "user" is still loading',
    });
    expect(() => m.forwardSync(kjt)).toThrow(/await ebc\.ready before forwardSync/);
    await expect(m.backward(kjt, new Float32Array(4))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await m.ready;
    const w = m.getWeights('user');
    expect(Array.from((await m.forward(kjt)).values())).toEqual(Array.from(w.slice(PERM[0] * 4, PERM[0] * 4 + 4)));
  });
});
