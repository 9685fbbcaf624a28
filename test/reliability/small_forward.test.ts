/**
 * With inlineSmallForwards, a small async forward is pooled on the calling thread when nothing it must
 * follow is pending (binding/forward_inline.h): no thread-pool hop. Both settings must behave alike
 * (every case runs with the option off and on): still a promise whose callbacks run later, the same bits as forwardSync, bad batches
 * rejected (never thrown) with the same code and message, call order against a pending backward,
 * and inputs free to change the moment forward returns.
 */
import { buildInfo, EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { expectRejects, expectThrows } from '../helpers/errors';
import { patternEbc, sameBits, SMALL_TABLES } from '../helpers/reliability';

const KEYS = ['u1', 'u2', 'item'];

function smallKjt(ids: number[][]): KeyedJaggedTensor {
  // ids[k] holds key k's 2 bags of 2 ids each (B = 2).
  return KeyedJaggedTensor.fromLengths({
    keys: KEYS,
    values: Int32Array.from(ids.flat()),
    lengths: new Int32Array(KEYS.length * 2).fill(2),
  });
}

const GOOD = [
  [1, 2, 3, 4],
  [5, 6, 7, 8],
  [0, 1, 2, 3],
];

describe.each([false, true])('small async forward (inlineSmallForwards: %s)', (inlineSmallForwards) => {
  const ebc = patternEbc(SMALL_TABLES, false, { inlineSmallForwards });
  afterAll(() => ebc.dispose());

  test('settles later, never synchronously, with the bits of forwardSync', async () => {
    const expected = ebc.forwardSync(smallKjt(GOOD)).values();
    const order: string[] = [];
    const p = ebc.forward(smallKjt(GOOD)).then((kt) => {
      order.push('resolved');
      return kt;
    });
    order.push('returned');
    const kt = await p;
    expect(order).toEqual(['returned', 'resolved']);
    expect(sameBits(kt.values(), expected)).toBe(true);
    expect(kt.stride()).toBe(2);
  });

  test('an id out of range rejects with the message forwardSync throws', async () => {
    const bad = [GOOD[0], [5, 6, 70, 8], GOOD[2]];
    const thrown = expectThrows(() => ebc.forwardSync(smallKjt(bad)), 'ERR_INDEX_OUT_OF_RANGE', 'u2', '70');
    let threw = false;
    let p: Promise<unknown> = Promise.resolve();
    try {
      p = ebc.forward(smallKjt(bad));
    } catch {
      threw = true;
    }
    expect(threw).toBe(false);
    const rejected = await expectRejects(p, 'ERR_INDEX_OUT_OF_RANGE', 'u2', '70');
    expect(rejected.message).toBe(thrown.message);
  });

  test('a missing feature rejects with ERR_MISSING_FEATURE', async () => {
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['u1', 'u2'], values: [1, 2], lengths: [1, 0, 1, 0] });
    await expectRejects(ebc.forward(kjt), 'ERR_MISSING_FEATURE', 'item');
  });

  test('inputs overwritten right after forward returns do not change its result', async () => {
    const values = Int32Array.from(GOOD.flat());
    const lengths = new Int32Array(KEYS.length * 2).fill(2);
    const kjt = KeyedJaggedTensor.fromLengths({ keys: KEYS, values, lengths });
    const expected = ebc.forwardSync(kjt).values();
    const p = ebc.forward(kjt);
    values.fill(9);
    lengths.reverse();
    expect(sameBits((await p).values(), expected)).toBe(true);
  });
});

test.each([false, true])(
  'small forwards issued around a pending backward see the weights of their place in call order (inline: %s)',
  async (inlineSmallForwards) => {
    const tables = [{ name: 'user', num_embeddings: 10, embedding_dim: 4, feature_names: ['u1', 'u2'] }];
    const make = () =>
      new EmbeddingBagCollection({
        tables: [{ ...tables[0], optimizer: { sgd: { lr: 0.5 } } }],
        seed: 3,
        inlineSmallForwards,
      });
    const ebc = make();
    const twin = make();
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['u1', 'u2'], values: [1, 2, 3, 4], lengths: [2, 0, 1, 1] });
    const grad = Float32Array.from({ length: 2 * 8 }, (_, i) => (i % 5) - 2);

    const before = twin.forwardSync(kjt).values();
    await twin.backward(kjt, grad);
    const after = twin.forwardSync(kjt).values();
    expect(sameBits(before, after)).toBe(false);

    const first = ebc.forward(kjt); // nothing pending: may run inline
    const step = ebc.backward(kjt, grad); // a writer: the forward below must wait for it
    const second = ebc.forward(kjt);
    const [a, , b] = await Promise.all([first, step, second]);
    expect(sameBits(a.values(), before)).toBe(true);
    expect(sameBits(b.values(), after)).toBe(true);
    ebc.dispose();
    twin.dispose();
  },
);

test('inlineSmallForwards must be a boolean', () => {
  expectThrows(
    () => new EmbeddingBagCollection({ tables: SMALL_TABLES, inlineSmallForwards: 'yes' as unknown as boolean }),
    'ERR_INVALID_CONFIG',
    'inlineSmallForwards',
    'boolean',
  );
});

test('buildInfo names the CPU kernel paths this machine chose', () => {
  const kernels = buildInfo().cpuKernels;
  expect(['avx2+f16c', 'portable']).toContain(kernels.pooledLookup);
  expect(typeof kernels.quantizedPool).toBe('string');
  expect(kernels.quantizedPool.length).toBeGreaterThan(0);
});
