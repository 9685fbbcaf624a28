/**
 * forwardSync reads the KJT's arrays in place (no copy: the call ends before JS runs again), except
 * arrays over a SharedArrayBuffer, which another thread could write meanwhile and which are copied.
 * Either way the result is the same, and arrays of every size and backing give the same bits.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';

function shared<T extends Int32Array | BigInt64Array | Float32Array>(a: T): T {
  const ctor = a.constructor as { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };
  const out = new ctor(new SharedArrayBuffer(a.length * ctor.BYTES_PER_ELEMENT));
  out.set(a as never);
  return out;
}

describe.each([false, true])('isWeighted %s', (isWeighted) => {
  const ebc = new EmbeddingBagCollection({
    isWeighted,
    seed: 3,
    tables: [
      { name: 'a', num_embeddings: 50, embedding_dim: 5, data_type: 'fp32', feature_names: ['x'] },
      { name: 'b', num_embeddings: 20, embedding_dim: 12, data_type: 'fp16', feature_names: ['y'] },
    ],
  });
  afterAll(() => ebc.dispose());

  const lengths = Int32Array.from([2, 0, 3, 1, 1, 4]); // B = 3
  const values = Int32Array.from([1, 49, 2, 3, 4, 19, 0, 5, 6, 7, 8]);
  const weights = Float32Array.from(values, (v) => 0.5 + v / 10);
  const plain = KeyedJaggedTensor.fromLengths({ keys: ['x', 'y'], values, lengths, weights });
  const expected = ebc.forwardSync(plain).values().slice();

  test('arrays over a SharedArrayBuffer give the same result', async () => {
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: ['x', 'y'],
      values: shared(values),
      lengths: shared(lengths),
      weights: shared(weights),
    });
    expect(Array.from(ebc.forwardSync(kjt).values())).toEqual(Array.from(expected));
    expect(Array.from((await ebc.forward(kjt)).values())).toEqual(Array.from(expected));
  });

  test('int64 ids, offsets, and views into larger buffers give the same result', () => {
    const big = new BigInt64Array(values.length + 7);
    const ids = big.subarray(3, 3 + values.length);
    ids.set(Array.from(values, BigInt));
    const offsets = new BigInt64Array(lengths.length + 1);
    for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i] + BigInt(lengths[i]);
    const kjt = KeyedJaggedTensor.fromOffsets({ keys: ['x', 'y'], values: ids, offsets, weights });
    expect(Array.from(ebc.forwardSync(kjt).values())).toEqual(Array.from(expected));
  });

  test('the result does not change when the inputs are changed afterwards', () => {
    const mine = values.slice();
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['x', 'y'], values: mine, lengths, weights });
    const out = ebc.forwardSync(kjt).values();
    mine.fill(0);
    expect(Array.from(out)).toEqual(Array.from(expected));
  });
});
