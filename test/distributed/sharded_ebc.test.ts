/**
 * The sharded EmbeddingBagCollection on 2 and 3 real ranks against one process on the global batch
 * (each rank computes that reference itself from the same seeded batches; see
 * children/sharded_child.js): identical initial weights, forward parity (exact for table_wise and
 * data_parallel, row_wise within 1e-5 + 1.3e-6|b|), and K steps of training parity of weights and
 * optimizer state, with local batches of different sizes including 0.
 */
import { lastJson } from './helpers';
import { CaseResult, expectExact, expectRowWise, run, startSharded, table, TIMEOUT_MS } from './sharded_helpers';

describe('sharded EmbeddingBagCollection', () => {
  test('2 ranks: table_wise, data_parallel and uneven row_wise in one collection; fp32/fp16, SUM/MEAN; sgd, rowwise_adagrad, adam', async () => {
    const cases = [
      {
        name: 'mixedSgd',
        seed: 11,
        steps: 3,
        batchSizes: [3, 0, 5],
        optimizer: { sgd: { lr: 0.5 } },
        tables: [
          table('a', 7, 4, { feature_names: ['a1', 'a2'] }),
          table('b', 5, 3, { pooling: 'MEAN' }),
          table('c', 6, 2, { data_type: 'fp16' }),
        ],
        plan: { a: { sharding_type: 'table_wise', ranks: [1] }, b: 'row_wise', c: 'data_parallel' },
      },
      {
        name: 'twAdagradFp16Mean',
        seed: 12,
        steps: 3,
        batchSizes: [2, 4],
        optimizer: { rowwise_adagrad: { lr: 0.1 } },
        tables: [table('h', 9, 4, { data_type: 'fp16', pooling: 'MEAN' }), table('f', 4, 2)],
        plan: { h: 'table_wise', f: { sharding_type: 'table_wise', ranks: [0] } },
      },
      {
        name: 'rowWiseAdam',
        seed: 13,
        steps: 3,
        batchSizes: [4, 1],
        optimizer: {
          adam: { lr: 0.05 },
          learning_rate: { linear_ramp_to_constant: { learning_rate: 0.05, num_ramp_steps: 2 } },
        },
        tables: [table('r', 11, 4, { pooling: 'MEAN' }), table('s', 3, 2)],
        plan: { r: 'row_wise', s: 'row_wise' },
      },
      {
        name: 'weightedDp',
        seed: 14,
        steps: 2,
        batchSizes: [1, 3],
        isWeighted: true,
        optimizer: {
          adam: { lr: 0.05 },
          learning_rate: { linear_ramp_to_constant: { learning_rate: 0.05, num_ramp_steps: 2 } },
        },
        tables: [table('w', 8, 4), table('v', 5, 2)],
        plan: { w: 'data_parallel', v: 'row_wise' },
      },
      {
        // Each shard's fp32 partial sum is added up before the one fp16 rounding, as in one process.
        name: 'rowWiseFp16',
        seed: 15,
        steps: 2,
        batchSizes: [3, 2],
        optimizer: { rowwise_adagrad: { lr: 0.1 } },
        tables: [table('g', 9, 4, { data_type: 'fp16' }), table('m', 7, 8, { data_type: 'fp16', pooling: 'MEAN' })],
        plan: { g: 'row_wise', m: 'row_wise' },
      },
    ];
    const [r0, r1] = await run<Record<string, CaseResult>>('parity', 2, { cases });
    for (const r of [r0, r1]) {
      for (const name of ['twAdagradFp16Mean']) expectExact(r[name]);
      for (const name of ['mixedSgd', 'rowWiseAdam', 'weightedDp', 'rowWiseFp16']) expectRowWise(r[name]);
      expect(r.mixedSgd.steps).toBe(3);
    }
  }, 60000);

  test('3 ranks: row_wise shards that are short and empty, table_wise on one rank, data_parallel; adam', async () => {
    const cases = [
      {
        name: 'threeRanks',
        seed: 21,
        steps: 3,
        batchSizes: [0, 2, 5],
        optimizer: {
          adam: { lr: 0.05 },
          learning_rate: { linear_ramp_to_constant: { learning_rate: 0.05, num_ramp_steps: 2 } },
        },
        // 4 rows over 3 ranks: block 2, shards of 2, 2 and 0 rows. 7 rows: 3, 3, 1.
        tables: [table('e', 4, 3), table('u', 7, 2, { pooling: 'MEAN' }), table('t', 5, 4), table('d', 3, 2)],
        plan: { e: 'row_wise', u: 'row_wise', t: { sharding_type: 'table_wise', ranks: [2] }, d: 'data_parallel' },
      },
      {
        name: 'threeTwDp',
        seed: 22,
        steps: 2,
        batchSizes: [3, 0, 1],
        optimizer: { sgd: { lr: 0.3 } },
        tables: [table('p', 6, 4, { data_type: 'fp16' }), table('q', 5, 2, { pooling: 'MEAN' })],
        plan: { p: { sharding_type: 'table_wise', ranks: [1] }, q: 'data_parallel' },
      },
    ];
    const results = await run<Record<string, CaseResult>>('parity', 3, { cases });
    for (const r of results) {
      expectRowWise(r.threeRanks);
      expectExact(r.threeTwDp);
    }
  }, 60000);

  test('a bad plan is ERR_INVALID_CONFIG on every rank, and nobody waits in a collective', async () => {
    const results = await run<{ errors: ({ code: string; message: string } | null)[] }>('badPlan', 2, {});
    for (const r of results) {
      expect(r.errors.map((e) => e?.code)).toEqual(['ERR_INVALID_CONFIG', 'ERR_INVALID_CONFIG', 'ERR_INVALID_CONFIG']);
      expect(r.errors[0]?.message).toContain('nope');
      expect(r.errors[1]?.message).toContain('sideways');
      expect(r.errors[2]?.message).toContain('ranks');
    }
  }, 30000);

  test('a killed rank makes the other rank reject its sharded forward with ERR_DISTRIBUTED', async () => {
    const results = await run<{ ok: boolean; error?: { code: string; message: string }; ms: number }>('lose', 2, {
      victim: 1,
    });
    const survivor = results[0];
    expect(survivor.ok).toBe(false);
    expect(survivor.error?.code).toBe('ERR_DISTRIBUTED');
    expect(survivor.ms).toBeLessThan(TIMEOUT_MS + 6000);
    expect(results[1]).toBeNull();
  }, 30000);

  test('a stopped rank (SIGSTOP) makes the others reject their column_wise forward with ERR_DISTRIBUTED once timeoutMs has passed, and exit', async () => {
    const timeoutMs = 3000;
    const ranks = await startSharded('lose', 3, { timeoutMs, victim: 1, signal: 'SIGSTOP', sharding: 'column_wise' });
    try {
      for (const rank of [0, 2]) {
        const res = await ranks[rank].done;
        expect({ code: res.code, signal: res.signal }).toEqual({ code: 0, signal: null });
        const got = lastJson<{ ok: boolean; error?: { code: string; message: string }; ms: number }>(res);
        expect(got).toMatchObject({ ok: false, error: { code: 'ERR_DISTRIBUTED' } });
        expect(got.error?.message).toContain('rank');
        // A stopped peer is noticed only by the timeout (a dead one at once); generous upper bound.
        expect(got.ms).toBeGreaterThanOrEqual(timeoutMs * 0.9);
        expect(got.ms).toBeLessThan(timeoutMs + 6000);
      }
    } finally {
      ranks[1].child.kill('SIGKILL'); // works on a stopped process
      await ranks[1].done;
    }
  }, 30000);
});
