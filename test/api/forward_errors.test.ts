/**
 * forward / forwardSync on KJTs that are well formed but wrong for the collection (ids out of range,
 * features missing, weights missing, not a KJT at all), and TorchRec's leniencies: keys no table
 * reads are ignored, key order does not matter, an unweighted collection ignores KJT weights.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { expectForwardFails, expectThrows } from '../helpers/errors';
import { oneTableHandle } from '../helpers/native_handle';
import { patternEbc, SMALL_TABLES, sameBits, TableDef } from '../helpers/reliability';

// Keys u1, u2 (table user, 10 rows) and item (table item, 7 rows); batch of 2.
const KEYS = ['u1', 'u2', 'item'];
const LENGTHS = [1, 2, 0, 3, 1, 1];
const GOOD = [1, 2, 3, 4, 5, 6, 6, 0];

type Ids = (xs: number[]) => Int32Array | BigInt64Array | number[];
const DTYPES: [string, Ids][] = [
  ['int32', (xs) => Int32Array.from(xs)],
  ['int64', (xs) => BigInt64Array.from(xs.map(BigInt))],
  ['number[]', (xs) => xs],
];

function kjt(values: number[], ids: Ids = DTYPES[0][1], keys = KEYS, lengths = LENGTHS): KeyedJaggedTensor {
  return KeyedJaggedTensor.fromLengths({ keys, values: ids(values), lengths: ids(lengths) });
}

let ebc: EmbeddingBagCollection;
beforeAll(() => {
  ebc = patternEbc(SMALL_TABLES);
});
afterAll(() => ebc.dispose());

describe.each(DTYPES)('%s ids', (_name, ids) => {
  test('the good batch runs through forward and forwardSync alike', async () => {
    const a = ebc.forwardSync(kjt(GOOD, ids));
    const b = await ebc.forward(kjt(GOOD, ids));
    expect(a.values()).toHaveLength(2 * (4 + 4 + 3));
    expect(sameBits(a.values(), b.values())).toBe(true);
    expect(sameBits(a.values(), ebc.forwardSync(kjt(GOOD)).values())).toBe(true);
  });

  test.each([
    // [position in values, bad id, feature, table, num_embeddings]
    [0, 10, 'u1', 'user', 10],
    [4, -1, 'u2', 'user', 10],
    [7, 7, 'item', 'item', 7],
    [6, 2147483647, 'item', 'item', 7],
    [2, -2147483648, 'u1', 'user', 10],
  ])(
    'values[%i] = %i is ERR_INDEX_OUT_OF_RANGE naming feature, position and value',
    async (pos, bad, feature, table, n) => {
      const values = [...GOOD];
      values[pos] = bad;
      await expectForwardFails(
        ebc,
        kjt(values, ids),
        'ERR_INDEX_OUT_OF_RANGE',
        `feature "${feature}"`,
        `id ${bad} at values position ${pos}`,
        `table "${table}" (num_embeddings ${n})`,
      );
    },
  );
});

test('int64 ids far outside int32 are ERR_INDEX_OUT_OF_RANGE with the exact value', async () => {
  for (const bad of [2n ** 62n, -(2n ** 63n), 2n ** 32n + 1n]) {
    const values = BigInt64Array.from(GOOD.map(BigInt));
    values[3] = bad;
    const k = KeyedJaggedTensor.fromLengths({ keys: KEYS, values, lengths: Int32Array.from(LENGTHS) });
    await expectForwardFails(ebc, k, 'ERR_INDEX_OUT_OF_RANGE', 'feature "u2"', `id ${bad} at values position 3`);
  }
});

test('a feature read by two tables is checked against each table', async () => {
  const tables: TableDef[] = [
    { name: 'big', num_embeddings: 100, embedding_dim: 2, feature_names: ['f'] },
    { name: 'small', num_embeddings: 5, embedding_dim: 2, feature_names: ['f'] },
  ];
  const two = patternEbc(tables);
  expect(two.outputKeys()).toEqual(['f@big', 'f@small']);
  const k = KeyedJaggedTensor.fromLengths({ keys: ['f'], values: [4, 50], lengths: [2] });
  await expectForwardFails(
    two,
    k,
    'ERR_INDEX_OUT_OF_RANGE',
    'feature "f"',
    'id 50 at values position 1',
    'table "small"',
  );
});

test('a feature a table reads but the KJT lacks is ERR_MISSING_FEATURE naming feature and table', async () => {
  const k = KeyedJaggedTensor.fromLengths({ keys: ['u1', 'u2'], values: [1, 2, 3, 4], lengths: [1, 1, 1, 1] });
  await expectForwardFails(ebc, k, 'ERR_MISSING_FEATURE', '"item"', 'table "item"');
  const none = KeyedJaggedTensor.fromLengths({ keys: [], values: [], lengths: [], stride: 3 });
  await expectForwardFails(ebc, none, 'ERR_MISSING_FEATURE', '"u1"', 'table "user"');
});

test('a weighted collection given a KJT without weights is ERR_INVALID_KJT', async () => {
  const weighted = patternEbc(
    [{ name: 'user', num_embeddings: 10, embedding_dim: 4, feature_names: ['u1', 'u2'] }],
    true,
  );
  const k = KeyedJaggedTensor.fromLengths({ keys: ['u1', 'u2'], values: [1, 2], lengths: [1, 1] });
  await expectForwardFails(weighted, k, 'ERR_INVALID_KJT', 'weighted', 'no weights');
  const withWeights = KeyedJaggedTensor.fromLengths({
    keys: ['u1', 'u2'],
    values: [1, 2],
    lengths: [1, 1],
    weights: [2, 0.5],
  });
  expect(weighted.forwardSync(withWeights).values()).toHaveLength(8);
});

test.each([
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  [
    'a plain object shaped like a KJT',
    { keys: () => KEYS, nativeArgs: () => [KEYS, new Int32Array(8), new Int32Array(6), null, null, 2] },
  ],
  ['a KeyedTensor', null],
])('forward(%s) rejects and forwardSync throws ERR_INVALID_KJT', async (name, arg) => {
  const value = name === 'a KeyedTensor' ? ebc.forwardSync(kjt(GOOD)) : arg;
  await expectForwardFails(ebc, value, 'ERR_INVALID_KJT', 'expects a KeyedJaggedTensor');
});

describe('TorchRec leniencies', () => {
  const expected = () => ebc.forwardSync(kjt(GOOD)).values();

  test('keys no table reads are ignored, whatever their ids', () => {
    const k = KeyedJaggedTensor.fromLengths({
      keys: ['zzz', ...KEYS, 'other'],
      values: [-5, 1e9, ...GOOD, 123456],
      lengths: [2, 0, ...LENGTHS, 0, 1],
    });
    expect(sameBits(ebc.forwardSync(k).values(), expected())).toBe(true);
  });

  test('KJT key order does not matter', async () => {
    // keys item, u2, u1 with their bags moved along (key-major).
    const k = KeyedJaggedTensor.fromLengths({
      keys: ['item', 'u2', 'u1'],
      values: [6, 0, 4, 5, 6, 1, 2, 3],
      lengths: [1, 1, 0, 3, 1, 2],
    });
    expect(sameBits((await ebc.forward(k)).values(), expected())).toBe(true);
  });

  test('an unweighted collection ignores KJT weights, as TorchRec does', () => {
    const k = KeyedJaggedTensor.fromLengths({
      keys: KEYS,
      values: GOOD,
      lengths: LENGTHS,
      weights: GOOD.map((_, i) => i - 3.5),
    });
    expect(sameBits(ebc.forwardSync(k).values(), expected())).toBe(true);
  });

  test('an empty batch gives an empty output with the output keys', async () => {
    const k = KeyedJaggedTensor.fromLengths({ keys: KEYS, values: [], lengths: [] });
    const kt = await ebc.forward(k);
    expect(kt.stride()).toBe(0);
    expect(kt.keys()).toEqual(KEYS);
    expect(kt.values()).toHaveLength(0);
  });
});

describe('the native side re-validates what a KJT holds by reference', () => {
  test('arrays mutated after the KJT was built give errors, not reads out of bounds', async () => {
    const values = Int32Array.from(GOOD);
    const lengths = Int32Array.from(LENGTHS);
    const k = KeyedJaggedTensor.fromLengths({ keys: KEYS, values, lengths });
    values[5] = 1 << 30;
    await expectForwardFails(ebc, k, 'ERR_INDEX_OUT_OF_RANGE', 'feature "u2"', `id ${1 << 30} at values position 5`);
    values[5] = 0;
    lengths[0] = 1e6;
    await expectForwardFails(ebc, k, 'ERR_INVALID_KJT', 'lengths sum to');
    lengths[0] = -1;
    lengths[1] = 4;
    await expectForwardFails(ebc, k, 'ERR_INVALID_KJT', 'lengths[0] is negative');
  });

  test('offsets and weights too', async () => {
    const offsets = Int32Array.from([0, 1, 3, 3, 6, 7, 8]);
    const weights = new Float32Array(8).fill(1);
    const weighted = patternEbc(SMALL_TABLES.slice(0, 1), true);
    const k = KeyedJaggedTensor.fromOffsets({ keys: KEYS, values: Int32Array.from(GOOD), offsets, weights });
    weights[7] = NaN;
    await expectForwardFails(weighted, k, 'ERR_NON_FINITE', 'weights[7] is not finite');
    offsets[2] = 100;
    await expectForwardFails(ebc, k, 'ERR_INVALID_KJT', 'offsets must be non-decreasing');
    offsets[2] = 3;
    offsets[6] = 9;
    await expectForwardFails(ebc, k, 'ERR_INVALID_KJT', 'offsets end at 9');
  });

  test('int64 lengths whose sum wraps around are refused by the native core itself', () => {
    const handle = oneTableHandle();
    // 4 * 2^62 = 2^64 wraps to 0 = values.length in int64 arithmetic.
    const lengths = BigInt64Array.from([2n ** 62n, 2n ** 62n, 2n ** 62n, 2n ** 62n]);
    expectThrows(
      () => handle.forwardSync(['t'], new Int32Array(0), lengths, null, null, 4),
      'ERR_INVALID_KJT',
      'overflow',
    );
  });
});

// The addon's promises belong to the realm that loaded it; under jest (or vm) forward must still
// hand back a promise of the caller's realm (lib/native.ts ownPromise).
test("forward's promise belongs to the caller's realm (instanceof Promise)", () => {
  const p = ebc.forward(kjt(GOOD));
  expect(p).toBeInstanceOf(Promise);
});
