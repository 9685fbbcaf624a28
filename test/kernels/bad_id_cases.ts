/**
 * Batches of thousands of bags with out-of-range ids somewhere inside, shared by
 * find_out_of_range.test.ts and its child process (run_bad_id_cases.js, another instruction set).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';
import { Rng } from '../helpers/random';

const ROWS = 5000;
const BATCH = 2048;
const L = 20;

export interface ManyBagCase {
  label: string;
  wide: boolean;
  bad: Record<number, bigint>; // position in the KJT's values -> id
  expect: string;
}

const A = BATCH * L; // fb's ids start here

export const MANY_BAG_CASES: ManyBagCase[] = [
  {
    label: 'int64, 2^62 mid-batch',
    wide: true,
    bad: { 30_001: 2n ** 62n },
    expect: `id ${2n ** 62n} at values position 30001`,
  },
  {
    label: 'int64, -2^63 in the last bag, after a bad id in the second feature',
    wide: true,
    bad: { [A - 1]: -(2n ** 63n), [A + 7]: BigInt(ROWS) },
    expect: `id ${-(2n ** 63n)} at values position ${A - 1}`,
  },
  {
    label: 'int32, 2^31 - 1 in the second feature',
    wide: false,
    bad: { [A + 12_345]: 2n ** 31n - 1n },
    expect: `feature "fb": id 2147483647 at values position ${A + 12345}`,
  },
  {
    label: 'int32, num_embeddings in the first bag',
    wide: false,
    bad: { 0: BigInt(ROWS) },
    expect: `id ${ROWS} at values position 0`,
  },
];

function build(c: ManyBagCase): KeyedJaggedTensor {
  const n = 2 * BATCH * L;
  const values = c.wide ? new BigInt64Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = c.bad[i] ?? BigInt((i * 7919) % ROWS);
    if (values instanceof BigInt64Array) values[i] = v;
    else values[i] = Number(v);
  }
  return KeyedJaggedTensor.fromLengths({ keys: ['fa', 'fb'], values, lengths: new Int32Array(2 * BATCH).fill(L) });
}

/** forwardSync's and forward's errors for each case. */
export async function manyBagMessages(
  cases: ManyBagCase[],
): Promise<{ code: string; message: string; asyncMessage: string }[]> {
  const ebc = new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: ROWS, embedding_dim: 64, feature_names: ['fa'] },
      { name: 'b', num_embeddings: ROWS, embedding_dim: 13, data_type: 'fp16', feature_names: ['fb'] },
    ],
  });
  const out = [];
  for (const c of cases) {
    const kjt = build(c);
    let sync: TorchrecError | undefined;
    try {
      ebc.forwardSync(kjt);
    } catch (e) {
      sync = e as TorchrecError;
    }
    const asyncError = (await ebc.forward(kjt).then(
      () => undefined,
      (e: unknown) => e,
    )) as TorchrecError | undefined;
    out.push({ code: sync?.code ?? 'accepted', message: sync?.message ?? '', asyncMessage: asyncError?.message ?? '' });
  }
  ebc.dispose();
  return out;
}

/**
 * Small random batches for the check inside the pooling loop (PooledBatch::check_ids): dims below,
 * at and above the 64-column blocks (with and without a tail, where only the first pass checks),
 * fp16 and fp32, weighted or not, int32 or int64 ids, one bad id anywhere (first, last, mid-bag).
 * Each batch must be rejected naming that id; the same batch with it repaired must be accepted.
 * Returns one line per problem (none when all hold).
 */
export async function randomBadIdProblems(seeds: number[]): Promise<string[]> {
  const problems: string[] = [];
  for (const seed of seeds) {
    const r = new Rng(seed);
    const rows = r.int(1, 300);
    const dims = [r.pick(DIMS), r.pick(DIMS)];
    const weighted = r.chance(0.5);
    const ebc = new EmbeddingBagCollection({
      isWeighted: weighted,
      tables: dims.map((dim, t) => ({
        name: `t${t}`,
        num_embeddings: rows,
        embedding_dim: dim,
        data_type: r.chance(0.5) ? 'fp16' : 'fp32',
        pooling: !weighted && r.chance(0.3) ? 'MEAN' : 'SUM',
        feature_names: [`f${t}`],
      })),
    });
    const batch = r.int(1, 9);
    const lengths = Int32Array.from({ length: 2 * batch }, () => r.int(0, 5));
    const n = lengths.reduce((a, b) => a + b, 0);
    if (n === 0) lengths[r.int(0, 2 * batch - 1)] = 1;
    const total = lengths.reduce((a, b) => a + b, 0);
    const wide = r.chance(0.5);
    const ids = Array.from({ length: total }, () => r.int(0, rows - 1));
    const position = r.pick([0, total - 1, r.int(0, total - 1)]);
    const badValue = r.pick([-1, rows, rows + r.int(1, 1000), wide ? -(2 ** 40) : -(2 ** 31), 2 ** 31 - 1]);
    const make = (bad: boolean): KeyedJaggedTensor => {
      const values = wide ? new BigInt64Array(total) : new Int32Array(total);
      ids.forEach((id, i) => {
        const v = bad && i === position ? badValue : id;
        if (values instanceof BigInt64Array) values[i] = BigInt(v);
        else values[i] = v;
      });
      const weights = weighted ? Float32Array.from({ length: total }, () => r.next()) : undefined;
      return KeyedJaggedTensor.fromLengths({ keys: ['f0', 'f1'], values, lengths, weights });
    };
    const label = `seed ${seed} (dims ${dims}, rows ${rows}, ${wide ? 'int64' : 'int32'}, bad ${badValue} at ${position})`;
    const expected = `id ${badValue} at values position ${position}`;
    const bad = make(true);
    try {
      ebc.forwardSync(bad);
      problems.push(`${label}: forwardSync accepted it`);
    } catch (e) {
      const err = e as TorchrecError;
      if (err.code !== 'ERR_INDEX_OUT_OF_RANGE' || !err.message.includes(expected)) {
        problems.push(`${label}: forwardSync threw ${err.code}: ${err.message}`);
      }
    }
    const asyncError = (await ebc.forward(bad).then(
      () => undefined,
      (e: unknown) => e,
    )) as TorchrecError | undefined;
    if (asyncError?.code !== 'ERR_INDEX_OUT_OF_RANGE' || !asyncError.message.includes(expected)) {
      problems.push(`${label}: forward gave ${asyncError?.code ?? 'a result'}`);
    }
    try {
      const values = ebc.forwardSync(make(false)).values();
      if (values.length !== batch * (dims[0] + dims[1])) problems.push(`${label}: repaired batch has the wrong size`);
    } catch (e) {
      problems.push(`${label}: repaired batch rejected: ${(e as Error).message}`);
    }
    ebc.dispose();
  }
  return problems;
}

const DIMS = [1, 3, 8, 13, 16, 64, 72, 128, 130, 200];
export const RANDOM_BAD_ID_SEEDS = Array.from({ length: 60 }, (_, i) => 7001 + i);
