/**
 * Batches of thousands of bags with out-of-range ids somewhere inside, shared by
 * find_out_of_range.test.ts and its child process (run_bad_id_cases.js, another instruction set).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';

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
