/**
 * The id range check of a forward: the CPU store's pooling checks each id as it reads it (no separate
 * pass; PooledBatch::check_ids), and when one had a bad id, kernels::find_out_of_range names it: the
 * first id outside [0, num_embeddings) of the first feature that has one, with its position in the KJT's values,
 * whether the feature's ids are scanned in one pass or (from 32768 ids on) split across threads, for
 * int32 and int64 ids, negative ids, ids far outside (2^62, -2^63) and num_embeddings itself, in one
 * huge bag or in thousands of bags (runs pooled on both threads, in any order), on the AVX2 path and
 * on the portable one. A call with a bad id returns no result.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';
import { MANY_BAG_CASES, RANDOM_BAD_ID_SEEDS, manyBagMessages, randomBadIdProblems } from './bad_id_cases';

const ROWS = 1000;

function ebc(): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: ROWS, embedding_dim: 4, data_type: 'fp32', feature_names: ['fa'] },
      { name: 'b', num_embeddings: ROWS, embedding_dim: 3, data_type: 'fp16', feature_names: ['fb'] },
    ],
  });
}

/** Two keys, one bag each: `lenA` ids for fa then `lenB` for fb, all valid except `bad` (position -> id). */
function kjt(lenA: number, lenB: number, bad: Record<number, number>, wide: boolean): KeyedJaggedTensor {
  const n = lenA + lenB;
  const values = wide ? new BigInt64Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = bad[i] ?? (i * 7919) % ROWS;
    if (values instanceof BigInt64Array) values[i] = BigInt(v);
    else values[i] = v;
  }
  return KeyedJaggedTensor.fromLengths({ keys: ['fa', 'fb'], values, lengths: Int32Array.from([lenA, lenB]) });
}

function rejection(e: EmbeddingBagCollection, k: KeyedJaggedTensor): TorchrecError {
  try {
    e.forwardSync(k);
  } catch (err) {
    return err as TorchrecError;
  }
  throw new Error('forwardSync accepted an out-of-range id');
}

describe.each([
  ['int32', false],
  ['int64', true],
] as const)('%s ids', (_, wide) => {
  const cases: [string, number, number, Record<number, number>, string, string][] = [
    ['short bag, last id', 10, 5, { 9: ROWS }, 'fa', `id ${ROWS} at values position 9`],
    ['short bag, negative', 10, 5, { 3: -1, 7: ROWS + 5 }, 'fa', 'id -1 at values position 3'],
    ['second feature', 70, 90, { 100: -2147483648 }, 'fb', 'id -2147483648 at values position 100'],
    [
      'long bag (split scan), late',
      200_000,
      10,
      { 150_000: ROWS, 190_000: -3 },
      'fa',
      `id ${ROWS} at values position 150000`,
    ],
    ['long bag (split scan), first id', 200_000, 10, { 0: -7, 199_999: ROWS }, 'fa', 'id -7 at values position 0'],
    [
      'long bag (split scan), last id',
      200_000,
      10,
      { 199_999: ROWS + 1 },
      'fa',
      `id ${ROWS + 1} at values position 199999`,
    ],
    [
      'long second feature',
      5,
      150_000,
      { [5 + 140_001]: ROWS, [5 + 149_999]: -1 },
      'fb',
      `id ${ROWS} at values position 140006`,
    ],
  ];
  test.each(cases)('%s', async (_label, lenA, lenB, bad, feature, message) => {
    const e = ebc();
    const k = kjt(lenA, lenB, bad, wide);
    const err = rejection(e, k);
    expect(err.code).toBe('ERR_INDEX_OUT_OF_RANGE');
    expect(err.message).toContain(`feature "${feature}"`);
    expect(err.message).toContain(message);
    await expect(e.forward(k)).rejects.toMatchObject({
      code: 'ERR_INDEX_OUT_OF_RANGE',
      message: expect.stringContaining(message),
    });
    e.dispose();
  });

  test('ids 0 and num_embeddings - 1 are in range, in long bags too', () => {
    const e = ebc();
    const k = kjt(200_000, 140_000, { 0: 0, 199_999: ROWS - 1, 200_000: ROWS - 1, 339_999: 0 }, wide);
    expect(e.forwardSync(k).values()).toHaveLength(4 + 3);
    e.dispose();
  });
});

describe('many bags, ids far out of range', () => {
  test.each(MANY_BAG_CASES.map((c) => [c.label, c] as const))('%s', async (_label, c) => {
    const [got] = await manyBagMessages([c]);
    expect(got.code).toBe('ERR_INDEX_OUT_OF_RANGE');
    expect(got.message).toContain(c.expect);
    expect(got.asyncMessage).toContain(c.expect);
  });
});

test('random small batches: every dim, dtype and id width rejects its one bad id, and accepts it repaired', async () => {
  expect(await randomBadIdProblems(RANDOM_BAD_ID_SEEDS)).toEqual([]);
});

test('the portable path (TORCHREC_CPU_KERNEL=portable) reports the same ids', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'run_bad_id_cases.js')], {
    env: { ...process.env, TORCHREC_CPU_KERNEL: 'portable' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal}): ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    many: { code: string; message: string }[];
    randomProblems: string[];
  };
  expect(out.many).toHaveLength(MANY_BAG_CASES.length);
  out.many.forEach((got, i) => {
    expect(got.code).toBe('ERR_INDEX_OUT_OF_RANGE');
    expect(got.message).toContain(MANY_BAG_CASES[i].expect);
  });
  expect(out.randomProblems).toEqual([]);
});
