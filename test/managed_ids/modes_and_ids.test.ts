/**
 * Managed tables outside the happy path: odd raw ids (0, negatives, 2^62+7, the int64 extremes, and
 * Int32Array input), EVALUATE and INFERENCE forwards that neither admit nor count, backward that maps
 * exactly as its forward did, and config validation (ERR_INVALID_CONFIG naming the field).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, Mode, ProcessGroup } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { DIM, batch, managedEbc, observedRows } from './helpers';

const ROWS = 6;

function rowOf(w: Float32Array, r: number): number[] {
  return Array.from(w.subarray(r * DIM, (r + 1) * DIM));
}

describe('managed ids', () => {
  let ebc: EmbeddingBagCollection;
  beforeEach(() => {
    ebc = managedEbc({ rows: ROWS, policy: 'lfu', interval: 1000 });
  });
  afterEach(() => ebc.dispose());

  test('odd 64-bit ids are accepted and take rows in the order they are first seen', async () => {
    const ids = [2n ** 62n + 7n, -5n, 0n, -(2n ** 63n), 2n ** 63n - 1n];
    await ebc.forward(batch([ids]));
    expect(await observedRows(ebc, ids)).toEqual([0, 1, 2, 3, 4]);
    // The table is full (5 rows + the default): a sixth id reads the default row.
    const w = ebc.getWeights('t');
    const out = (await ebc.forward(batch([[42n]]))).values();
    expect(Array.from(out)).toEqual(rowOf(w, ROWS - 1));
    expect(ebc.managedIdStats().t).toEqual({
      residents: 5,
      waiting: 1,
      admitted: 5,
      evicted: 0,
      defaultRowHits: 1,
      waitingDropped: 0,
    });
  });

  test('Int32Array ids (negative too) are managed like any other', async () => {
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['f'], values: Int32Array.of(-3, 7, -3), lengths: [2, 1] });
    const out = ebc.forwardSync(kjt).values();
    const w = ebc.getWeights('t');
    expect(Array.from(out)).toEqual([...rowOf(w, 0).map((x, c) => Math.fround(x + w[1 * DIM + c])), ...rowOf(w, 0)]);
    expect(await observedRows(ebc, [-3n, 7n])).toEqual([0, 1]);
  });

  test.each([Mode.EVALUATE, Mode.INFERENCE])('%s forwards admit and count nothing', async (mode) => {
    await ebc.forward(batch([[1n]]));
    const before = ebc.managedIdStats();
    ebc.setMode(mode);
    const w = ebc.getWeights('t');
    const out = (await ebc.forward(batch([[99n], [1n]]))).values();
    expect(Array.from(out)).toEqual([...rowOf(w, ROWS - 1), ...rowOf(w, 0)]);
    ebc.forwardSync(batch([[98n]]));
    expect(ebc.managedIdStats()).toEqual(before);
    ebc.setMode(Mode.TRAIN);
    await ebc.forward(batch([[99n]]));
    expect(await observedRows(ebc, [99n])).toEqual([1]);
  });

  test('backward updates the rows its forward read, the default row for ids that had none', async () => {
    for (let i = 0; i < 5; i++) await ebc.forward(batch([[BigInt(100 + i)]]));
    const kjt = batch([[100n], [555n]]); // 555: no free row, reads the default row
    await ebc.forward(kjt);
    const before = ebc.getWeights('t');
    await ebc.backward(kjt, Float32Array.of(1, 1, 1, 1, 2, 2, 2, 2));
    const after = ebc.getWeights('t');
    const moved = [];
    for (let r = 0; r < ROWS; r++) if (rowOf(after, r).some((x, c) => x !== before[r * DIM + c])) moved.push(r);
    expect(moved).toEqual([0, ROWS - 1]);
    // SGD lr 0.1: row 0 moved by -0.1, the default row by -0.2.
    expect(rowOf(after, ROWS - 1)[0]).toBeCloseTo(before[(ROWS - 1) * DIM] - 0.2, 6);
  });
});

describe('managed_collision config', () => {
  const base = { name: 't', num_embeddings: 10, embedding_dim: 4 };
  const make = (table: object) => () => new EmbeddingBagCollection({ tables: [table] });

  test.each([
    [{ eviction_policy: 'mru' }, 'tables[0].managed_collision.eviction_policy', '"distance_lfu"'],
    [{ eviction_interval: 0 }, 'tables[0].managed_collision.eviction_interval', 'positive integer'],
    [{ decay_exponent: -1 }, 'tables[0].managed_collision.decay_exponent', 'non-negative'],
    [{ max_waiting_ids: 1.5 }, 'tables[0].managed_collision.max_waiting_ids', 'non-negative integer'],
    [{ eviction_polcy: 'lfu' }, 'tables[0].managed_collision', 'eviction_policy'],
  ])('%o is ERR_INVALID_CONFIG', (mc, field, text) => {
    expectThrows(make({ ...base, managed_collision: mc }), 'ERR_INVALID_CONFIG', field, text);
  });

  test('a managed table needs two rows and no vocab', () => {
    expectThrows(
      make({ ...base, num_embeddings: 1, managed_collision: {} }),
      'ERR_INVALID_CONFIG',
      'tables[0].managed_collision',
      'num_embeddings >= 2',
    );
    expectThrows(
      make({ ...base, vocab: '/nowhere.parquet', managed_collision: {} }),
      'ERR_INVALID_CONFIG',
      'tables[0].vocab',
      'managed_collision',
    );
  });

  test('defaults are filled in', () => {
    const ebc = new EmbeddingBagCollection({ tables: [{ ...base, managed_collision: {} }] });
    try {
      expect(ebc.tables[0].managed_collision).toEqual({
        eviction_policy: 'lfu',
        eviction_interval: 100,
        decay_exponent: 1,
        max_waiting_ids: 10,
      });
      expect(ebc.managedIdStats()).toEqual({
        t: { residents: 0, waiting: 0, admitted: 0, evicted: 0, defaultRowHits: 0, waitingDropped: 0 },
      });
    } finally {
      ebc.dispose();
    }
  });
});

test('a sharded collection takes a managed table table_wise or row_wise; column_wise is ERR_INVALID_CONFIG', async () => {
  const pg = await ProcessGroup.init({ worldSize: 1, rank: 0, masterPort: 0, timeoutMs: 5000 });
  const tables = [{ name: 't', num_embeddings: 10, embedding_dim: 4, managed_collision: {} }];
  try {
    expectThrows(
      () => new EmbeddingBagCollection({ tables, processGroup: pg, plan: { t: 'column_wise' } }),
      'ERR_INVALID_CONFIG',
      'plan.t',
      'table "t" has managed ids',
      'not column_wise',
    );
    for (const plan of [{ t: 'table_wise' as const }, { t: 'row_wise' as const }]) {
      const ebc = new EmbeddingBagCollection({ tables, processGroup: pg, plan });
      expect((await ebc.managedIdStats()).t.residents).toBe(0);
      ebc.dispose();
    }
  } finally {
    pg.destroy();
  }
});
