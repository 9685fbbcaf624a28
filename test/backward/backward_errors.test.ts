/**
 * Bad input to backward: each a TorchrecError with a clear code and message, never a crash, and
 * all-or-nothing: a rejected step leaves every weight, every optimizer state and the step counter
 * exactly as they were, even when the bad part comes after good tables.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';

/** Two tables; `b` is read by two features, the second of which comes last. */
function build(isWeighted = false): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: 5, embedding_dim: 2, feature_names: ['fa'], optimizer: { adam: { lr: 0.1 } } },
      {
        name: 'b',
        num_embeddings: 3,
        embedding_dim: 3,
        feature_names: ['fb1', 'fb2'],
        optimizer: { adagrad: { lr: 0.1 } },
      },
    ],
    isWeighted,
    seed: 9,
  });
}

const WIDTH = 2 + 3 + 3;
const B = 2;
const goodKjt = () =>
  KeyedJaggedTensor.fromLengths({
    keys: ['fa', 'fb1', 'fb2'],
    values: [0, 4, 1, 2, 2, 0],
    lengths: [1, 1, 1, 1, 1, 1],
  });
const goodGrad = () => Float32Array.from({ length: B * WIDTH }, (_, i) => (i % 5) - 2);

interface Snapshot {
  step: number;
  weights: Float32Array[];
  state: Record<string, Float32Array>[];
}

function snapshot(ebc: EmbeddingBagCollection): Snapshot {
  return {
    step: ebc.step,
    weights: ['a', 'b'].map((t) => ebc.getWeights(t)),
    state: ['a', 'b'].map((t) => ebc.optimizerState(t)),
  };
}

/** A trained collection (so states are non-zero) and its snapshot. */
async function trained(): Promise<[EmbeddingBagCollection, Snapshot]> {
  const ebc = build();
  await ebc.backward(goodKjt(), goodGrad());
  return [ebc, snapshot(ebc)];
}

async function rejection(p: Promise<unknown>): Promise<TorchrecError> {
  const e = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TorchrecError);
  return e as TorchrecError;
}

test('gradOutput of the wrong length is ERR_SHAPE naming [B][width]', async () => {
  const [ebc, before] = await trained();
  for (const n of [0, B * WIDTH - 1, B * WIDTH + 1, WIDTH]) {
    const e = await rejection(ebc.backward(goodKjt(), new Float32Array(n)));
    expect(e.code).toBe('ERR_SHAPE');
    expect(e.message).toContain(`expected [${B}][${WIDTH}]`);
    expect(e.message).toContain(`has ${n} values`);
  }
  expect(snapshot(ebc)).toEqual(before);
});

test.each([
  ['a Float64Array', () => new Float64Array(B * WIDTH)],
  ['an Array', () => Array.from({ length: B * WIDTH }, () => 0)],
  ['null', () => null],
  ['a string', () => 'grad'],
])('gradOutput as %s is ERR_DTYPE', async (what, make) => {
  const [ebc, before] = await trained();
  const e = await rejection(ebc.backward(goodKjt(), make() as unknown as Float32Array));
  expect(e.code).toBe('ERR_DTYPE');
  expect(e.message).toMatch(/gradOutput must be a Float32Array/);
  expect(snapshot(ebc)).toEqual(before);
});

test.each([NaN, Infinity, -Infinity])('a gradient holding %s is rejected and nothing moves', async (bad) => {
  const [ebc, before] = await trained();
  const grad = goodGrad();
  grad[B * WIDTH - 1] = bad; // the very last value: every table before it would have been fine
  const e = await rejection(ebc.backward(goodKjt(), grad));
  expect(e.code).toBe('ERR_NON_FINITE');
  expect(e.message).toContain(`gradOutput[${B * WIDTH - 1}] (sample 1, column ${WIDTH - 1}) is not finite`);
  expect(snapshot(ebc)).toEqual(before);
});

test('in a big gradient the first of several non-finite values, far in, is the one named', async () => {
  // The scan screens blocks of 1024 values at a time: the bad values sit in later blocks, one of
  // them in the middle of a block and another after it in the same block.
  const ebc = build();
  const big = 700;
  const kjt = KeyedJaggedTensor.fromLengths({
    keys: ['fa', 'fb1', 'fb2'],
    values: Array.from({ length: 3 * big }, (_, i) => i % 3),
    lengths: Array.from({ length: 3 * big }, () => 1),
  });
  const grad = Float32Array.from({ length: big * WIDTH }, (_, i) => (i % 5) - 2);
  grad[3 * 1024 + 517] = -Infinity;
  grad[3 * 1024 + 900] = NaN;
  grad[big * WIDTH - 1] = Infinity;
  const before = ebc.getWeights('a');
  const e = await rejection(ebc.backward(kjt, grad));
  expect(e.code).toBe('ERR_NON_FINITE');
  const at = 3 * 1024 + 517;
  expect(e.message).toContain(`gradOutput[${at}] (sample ${Math.floor(at / WIDTH)}, column ${at % WIDTH})`);
  expect(ebc.getWeights('a')).toEqual(before);
  ebc.dispose();
});

test('an out-of-range id in the last feature rejects the whole step (ERR_INDEX_OUT_OF_RANGE)', async () => {
  const [ebc, before] = await trained();
  const kjt = KeyedJaggedTensor.fromLengths({
    keys: ['fa', 'fb1', 'fb2'],
    values: [0, 4, 1, 2, 2, 3],
    lengths: [1, 1, 1, 1, 1, 1],
  });
  const e = await rejection(ebc.backward(kjt, goodGrad()));
  expect(e.code).toBe('ERR_INDEX_OUT_OF_RANGE');
  expect(e.message).toContain(
    'feature "fb2": id 3 at values position 5 is out of range for table "b" (num_embeddings 3)',
  );
  expect(snapshot(ebc)).toEqual(before);
  // Negative ids too, in int64.
  const neg = KeyedJaggedTensor.fromLengths({
    keys: ['fa', 'fb1', 'fb2'],
    values: BigInt64Array.from([0n, -1n, 1n, 2n, 2n, 0n]),
    lengths: [1, 1, 1, 1, 1, 1],
  });
  expect((await rejection(ebc.backward(neg, goodGrad()))).code).toBe('ERR_INDEX_OUT_OF_RANGE');
  expect(snapshot(ebc)).toEqual(before);
});

test('a missing feature is ERR_MISSING_FEATURE; a weighted collection needs KJT weights', async () => {
  const [ebc, before] = await trained();
  const missing = KeyedJaggedTensor.fromLengths({ keys: ['fa', 'fb1'], values: [0, 4, 1, 2], lengths: [1, 1, 1, 1] });
  const e = await rejection(ebc.backward(missing, goodGrad()));
  expect(e.code).toBe('ERR_MISSING_FEATURE');
  expect(e.message).toContain('"fb2"');
  expect(snapshot(ebc)).toEqual(before);

  const weighted = build(true);
  const w0 = weighted.getWeights('a');
  const e2 = await rejection(weighted.backward(goodKjt(), goodGrad()));
  expect(e2.code).toBe('ERR_INVALID_KJT');
  expect(e2.message).toContain('no weights');
  expect(weighted.getWeights('a')).toEqual(w0);
  expect(weighted.step).toBe(0);
});

test('not a KJT is ERR_INVALID_KJT', async () => {
  const [ebc, before] = await trained();
  const e = await rejection(ebc.backward({ keys: () => ['fa'] } as unknown as KeyedJaggedTensor, goodGrad()));
  expect(e.code).toBe('ERR_INVALID_KJT');
  expect(e.message).toContain('backward expects a KeyedJaggedTensor');
  expect(snapshot(ebc)).toEqual(before);
});

test('backward after dispose is ERR_DISPOSED; step stays readable', async () => {
  const [ebc] = await trained();
  ebc.dispose();
  const e = await rejection(ebc.backward(goodKjt(), goodGrad()));
  expect(e.code).toBe('ERR_DISPOSED');
  expect(ebc.step).toBe(1);
  expect(() => ebc.optimizerState('a')).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  await expect(ebc.tableNorms(['a'])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
});

test('a backward in flight when dispose() runs still completes', async () => {
  const ebc = build();
  const pending = ebc.backward(goodKjt(), goodGrad());
  ebc.dispose();
  await expect(pending).resolves.toBeUndefined();
  expect(ebc.step).toBe(1);
});

test('failures do not jam later calls, and the caller may reuse its arrays at once', async () => {
  const ebc = build();
  const reference = build();
  const grad = goodGrad();
  const bad = new Float32Array(3);
  const calls = [ebc.backward(goodKjt(), bad), ebc.backward(goodKjt(), grad)];
  grad.fill(1000); // mutating after the call cannot change the step it started
  const results = await Promise.allSettled(calls);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
  await reference.backward(goodKjt(), goodGrad());
  expect(snapshot(ebc)).toEqual(snapshot(reference));
});
