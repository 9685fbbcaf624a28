/**
 * planSharding's placement rules, byte counts and comm model, and validatePlan's errors. Pure
 * functions: no process group needed.
 */
import { EmbeddingBagConfig, planSharding, validatePlan } from '../../lib';
import { DATA_PARALLEL_MAX_BYTES } from '../../lib/distributed/planner';
import { expectThrows } from '../helpers/errors';

const MiB = 2 ** 20;
const table = (name: string, rows: number, dim: number, extra: object = {}) => ({
  name,
  num_embeddings: rows,
  embedding_dim: dim,
  ...extra,
});

describe('planSharding', () => {
  test('tiny tables data_parallel, too-big row_wise, the rest table_wise balanced largest first', () => {
    const tables = [
      table('tiny', 100, 8), // 3200 bytes
      table('big', 200000, 16), // 12.8 MB > budget
      table('mid3', 20000, 16), // 1.28 MB
      table('mid1', 40000, 16), // 2.56 MB
      table('mid2', 30000, 16), // 1.92 MB
    ];
    const got = planSharding(tables, { worldSize: 2, memoryPerRankBytes: 10 * MiB });
    expect(got.plan).toEqual({
      tiny: { sharding_type: 'data_parallel', ranks: [0, 1] },
      big: { sharding_type: 'row_wise', ranks: [0, 1] },
      // After tiny and big both ranks hold the same: mid1 (largest) takes rank 0, mid2 and mid3 rank 1.
      mid3: { sharding_type: 'table_wise', ranks: [1] },
      mid1: { sharding_type: 'table_wise', ranks: [0] },
      mid2: { sharding_type: 'table_wise', ranks: [1] },
    });
    const half = 100000 * 16 * 4;
    expect(got.ranks).toEqual([
      { bytes: 3200 + half + 40000 * 64, tables: ['tiny', 'big', 'mid1'] },
      { bytes: 3200 + half + 30000 * 64 + 20000 * 64, tables: ['tiny', 'big', 'mid3', 'mid2'] },
    ]);
  });

  test('bytes count the optimizer state (element-wise and row-wise) and fp16 weights', () => {
    const opt = (o: object) => ({ optimizer: o });
    const tables = [
      table('adam', 1000, 8, opt({ adam: { lr: 0.1 } })),
      table('rowwise', 1000, 8, opt({ rowwise_adagrad: { lr: 0.1 } })),
      table('half', 1000, 8, { data_type: 'fp16', ...opt({ partial_rowwise_adam: { lr: 0.1 } }) }),
      table('sgd', 1000, 8, opt({ sgd: { lr: 0.1 } })),
    ];
    const plan = Object.fromEntries(tables.map((t, i) => [t.name, { sharding_type: 'table_wise', ranks: [i] }]));
    const got = planSharding(tables, { worldSize: 4, plan: plan as never });
    expect(got.ranks.map((r) => r.bytes)).toEqual([
      1000 * (8 * 4 * 3), // weights + momentum1 + momentum2, all [N][D] fp32
      1000 * (8 * 4 + 4), // weights + one fp32 per row
      1000 * (8 * 2 + 8 * 4 + 4), // fp16 weights + [N][D] momentum1 + [N] momentum2
      1000 * 8 * 4,
    ]);
  });

  test('column_wise shards split the columns; row-wise optimizer state stays one value per row on each', () => {
    const t = table('t', 1000, 8, { optimizer: { rowwise_adagrad: { lr: 0.1 } } });
    const got = planSharding([t], { worldSize: 2, plan: { t: 'column_wise' } });
    expect(got.ranks.map((r) => r.bytes)).toEqual([1000 * (4 * 4 + 4), 1000 * (4 * 4 + 4)]);
  });

  test('several nodes: a table too big for a rank goes table_row_wise on the least loaded node', () => {
    const tables = [table('a', 100000, 16), table('b', 100000, 16)]; // 6.4 MB each
    const got = planSharding(tables, { worldSize: 4, localWorldSize: 2, memoryPerRankBytes: 5 * MiB });
    expect(got.plan).toEqual({
      a: { sharding_type: 'table_row_wise', ranks: [0, 1] },
      b: { sharding_type: 'table_row_wise', ranks: [2, 3] },
    });
    expect(got.ranks.map((r) => r.bytes)).toEqual([3.2e6, 3.2e6, 3.2e6, 3.2e6]);
  });

  test("commBytesPerStep follows TorchRec's model (ids + lengths in, pooled out and back; ring allreduce for DP)", () => {
    const W = 2;
    const Bg = 512 * W; // default batchSizePerRank
    const ids = Bg * 8;
    const lengths = Bg * 4;
    const pooled = Bg * 16 * 4;
    const tw = planSharding([table('t', 40000, 16)], { worldSize: W });
    expect(tw.commBytesPerStep).toBe(((W - 1) / W) * (ids + lengths + 2 * pooled));
    const rw = planSharding([table('t', 40000, 16)], { worldSize: W, plan: { t: 'row_wise' } });
    expect(rw.commBytesPerStep).toBe(((W - 1) / W) * (ids + W * lengths + 2 * W * pooled));
    const cw = planSharding([table('t', 40000, 16)], { worldSize: W, plan: { t: 'column_wise' } });
    expect(cw.commBytesPerStep).toBe(((W - 1) / W) * (W * (ids + lengths) + 2 * pooled));
    const dp = planSharding([table('t', 100, 16)], { worldSize: W });
    expect(dp.plan.t.sharding_type).toBe('data_parallel');
    expect(dp.commBytesPerStep).toBe(2 * (W - 1) * 100 * 16 * 4);
    // More ids per bag and two features reading the table: ids and lengths scale with them.
    const two = planSharding([table('t', 40000, 16, { feature_names: ['f', 'g'] })], {
      worldSize: W,
      batchSizePerRank: 10,
      idsPerBag: 3,
    });
    expect(two.commBytesPerStep).toBe(((W - 1) / W) * (20 * 2 * 3 * 8 + 20 * 2 * 4 + 2 * 20 * 2 * 16 * 4));
    expect(planSharding([table('t', 40000, 16)], { worldSize: 1 }).commBytesPerStep).toBe(0);
  });

  test('plan entries are kept; table_wise entries without ranks and unnamed tables are placed', () => {
    const tables = [table('cw', 40000, 16), table('tw', 40000, 16), table('free', 30000, 16)];
    const got = planSharding(tables, {
      worldSize: 2,
      plan: { cw: { sharding_type: 'column_wise', ranks: [1, 0] }, tw: 'table_wise' },
    });
    expect(got.plan.cw).toEqual({ sharding_type: 'column_wise', ranks: [1, 0] });
    expect(got.plan.tw).toEqual({ sharding_type: 'table_wise', ranks: [0] });
    expect(got.plan.free).toEqual({ sharding_type: 'table_wise', ranks: [1] });
  });

  test('identical for raw objects and EmbeddingBagConfig instances, and on every call', () => {
    const raw = [table('a', 50000, 8), table('b', 10, 4), table('c', 70000, 8)];
    const o = { worldSize: 3, memoryPerRankBytes: 2 * MiB };
    const first = planSharding(raw, o);
    expect(
      planSharding(
        raw.map((t) => new EmbeddingBagConfig(t)),
        o,
      ),
    ).toEqual(first);
    expect(planSharding(raw, o)).toEqual(first);
  });

  test('a table at the data_parallel threshold is table_wise', () => {
    const rows = DATA_PARALLEL_MAX_BYTES / (4 * 4);
    expect(planSharding([table('t', rows, 4)], { worldSize: 2 }).plan.t.sharding_type).toBe('table_wise');
    expect(planSharding([table('t', rows - 1, 4)], { worldSize: 2 }).plan.t.sharding_type).toBe('data_parallel');
  });

  test('tables that cannot fit are ERR_INVALID_CONFIG naming the table and the bytes', () => {
    expectThrows(
      () => planSharding([table('huge', 1000000, 16)], { worldSize: 2, memoryPerRankBytes: 10 * MiB }),
      'ERR_INVALID_CONFIG',
      'table "huge"',
      '64000000 bytes',
      'memoryPerRankBytes=10485760',
      'row_wise',
    );
    // Replicated tiny tables must fit too.
    expectThrows(
      () => planSharding([table('small', 100, 8)], { worldSize: 2, memoryPerRankBytes: 1000 }),
      'ERR_INVALID_CONFIG',
      'table "small"',
      'data_parallel',
    );
  });

  test.each([
    [{ worldSize: 2, memoryPerRankByte: 5 }, 'memoryPerRankByte', 'did you mean "memoryPerRankBytes"'],
    [{}, 'worldSize', 'is required'],
    [{ worldSize: 0 }, 'worldSize', 'positive integer'],
    [{ worldSize: 2, localWorldSize: 3 }, 'localWorldSize', 'must not exceed worldSize'],
    [{ worldSize: 2, plan: { usr: 'table_wise' } }, 'plan.usr', 'did you mean "user"'],
  ])('options %j are ERR_INVALID_CONFIG naming %s', (o, field, text) => {
    expectThrows(() => planSharding([table('user', 10, 4)], o as never), 'ERR_INVALID_CONFIG', field, text);
  });

  test('bad tables are ERR_INVALID_CONFIG with their path', () => {
    expectThrows(
      () => planSharding([table('a', 10, 4), { name: 'a', num_embeddings: 0, embedding_dim: 4 }], { worldSize: 2 }),
      'ERR_INVALID_CONFIG',
      'tables[1].num_embeddings',
      'duplicate table name "a"',
    );
  });
});

describe('validatePlan', () => {
  const tables = [table('user', 100, 8), table('item', 100, 10)];

  test('fills the ranks each type implies and leaves planner-placed entries open', () => {
    expect(validatePlan(tables, { user: 'row_wise', item: { sharding_type: 'table_wise', ranks: [3] } }, 4)).toEqual({
      user: { sharding_type: 'row_wise', ranks: [0, 1, 2, 3] },
      item: { sharding_type: 'table_wise', ranks: [3] },
    });
    expect(validatePlan(tables, { user: 'table_wise', item: 'data_parallel' }, 2)).toEqual({
      user: { sharding_type: 'table_wise' },
      item: { sharding_type: 'data_parallel', ranks: [0, 1] },
    });
  });

  test.each([
    [{ usr: 'row_wise' }, 'plan.usr', 'no table named "usr"', 'did you mean "user"'],
    [{ user: 'row_wize' }, 'plan.user', 'must be one of', 'did you mean "row_wise"'],
    [{ item: 'column_wise' }, 'plan.item', 'embedding_dim 10 of table "item" into 4 equal blocks'],
    [{ user: { sharding_type: 'column_wise', ranks: [0, 1, 2] } }, 'plan.user', 'embedding_dim 8', '3 equal blocks'],
    [{ user: { sharding_type: 'row_wise', ranks: [0, 4] } }, 'plan.user.ranks[1]', 'rank in [0, 4), got 4'],
    [{ user: { sharding_type: 'row_wise', ranks: [1, 1] } }, 'plan.user.ranks[1]', 'listed twice'],
    [{ user: { sharding_type: 'table_wise', ranks: [0, 1] } }, 'plan.user', 'one rank'],
    [{ user: { sharding_type: 'data_parallel', ranks: [0] } }, 'plan.user', 'leave out ranks'],
    [{ user: { sharding_type: 'table_row_wise', ranks: [1, 2] } }, 'plan.user', 'inside one node (2 ranks each)'],
    [{ user: { sharding_type: 'row_wise', rank: [0] } }, 'plan.user.rank', 'did you mean "ranks"'],
  ] as [object, ...string[]][])('%j is ERR_INVALID_CONFIG: %s', (plan, ...mentions) => {
    expectThrows(() => validatePlan(tables, plan as never, 4, 2), 'ERR_INVALID_CONFIG', ...mentions);
  });

  test('every issue is listed at once', () => {
    const e = expectThrows(
      () => validatePlan(tables, { usr: 'row_wise', item: 'column_wise' } as never, 4),
      'ERR_INVALID_CONFIG',
    );
    expect(e.message).toContain('plan.usr');
    expect(e.message).toContain('plan.item');
  });
});
