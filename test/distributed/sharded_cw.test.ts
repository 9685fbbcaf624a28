/**
 * column_wise and table_row_wise sharding on 2 and 3 real ranks against one process on the global
 * batch (children/sharded_child.js): column_wise is exact (initial weights, forward, K steps of
 * weights and optimizer state) for the element-wise optimizers; with the row-wise ones (per-row
 * values per column shard, README "Scaling out") it equals one process whose table is split into
 * its column blocks. table_row_wise is row_wise inside one node, on one node and on two. Every case
 * also checks tableNorms (exactly one process's) and one adds vocabularies and a shared feature.
 */
import * as path from 'path';
import { tmpDir, writeVocab } from '../vocab/helpers';
import { CaseResult, expectExact, expectRowWise, run, table } from './sharded_helpers';

interface SplitResult {
  forward: number;
  weights: number;
  state: number;
  stateNames: string[];
}
type Results = Record<string, CaseResult> & {
  badPlans: ({ code: string; message: string } | null)[];
} & Record<string, SplitResult>;

const adam = {
  adam: { lr: 0.05 },
  learning_rate: { linear_ramp_to_constant: { learning_rate: 0.05, num_ramp_steps: 2 } },
};

function expectSplit(r: SplitResult, names: string[]): void {
  expect(r.stateNames.sort()).toEqual(names);
  expect(r.forward).toBe(0);
  expect(r.weights).toBe(0);
  expect(r.state).toBe(0);
}

describe('column_wise and table_row_wise sharding', () => {
  test('2 ranks, one node: column_wise exact for sgd/adam/adagrad (fp32/fp16, SUM/MEAN/weighted, ranks in any order, gradientDivision off), row-wise optimizers per column shard, table_row_wise over the node', async () => {
    const cases: object[] = [
      {
        name: 'cwSgd',
        seed: 31,
        steps: 3,
        batchSizes: [3, 0, 5],
        optimizer: { sgd: { lr: 0.5 } },
        tables: [
          table('a', 7, 4, { feature_names: ['a1', 'a2'] }),
          table('b', 5, 6, { data_type: 'fp16', pooling: 'MEAN' }),
          table('c', 6, 2),
        ],
        plan: { a: 'column_wise', b: { sharding_type: 'column_wise', ranks: [1, 0] }, c: 'table_wise' },
      },
      {
        name: 'cwAdamWeighted',
        seed: 32,
        steps: 3,
        batchSizes: [1, 4],
        isWeighted: true,
        optimizer: adam,
        tables: [table('w', 8, 4), table('v', 5, 2)],
        plan: { w: 'column_wise', v: { sharding_type: 'column_wise', ranks: [1, 0] } },
      },
      {
        name: 'cwAdagradFp16',
        seed: 33,
        steps: 3,
        batchSizes: [2, 0],
        optimizer: { adagrad: { lr: 0.1 } },
        gradientDivision: false,
        tables: [table('h', 9, 4, { data_type: 'fp16', pooling: 'MEAN' })],
        plan: { h: 'column_wise' },
      },
      {
        name: 'trwOneNode',
        seed: 34,
        steps: 3,
        batchSizes: [4, 1],
        optimizer: adam,
        tables: [table('e', 7, 3), table('u', 5, 2, { pooling: 'MEAN' })],
        plan: { e: 'table_row_wise', u: { sharding_type: 'table_row_wise', ranks: [0, 1] } },
      },
    ];
    // Vocabularies (one with an OOV row, one skipping unknown ids) and a feature two tables read
    // (outputs f@c and f@d), on row_wise, column_wise, table_wise and row_wise tables.
    const dir = tmpDir('sharded-vocab');
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i);
    cases.push({
      name: 'vocabShared',
      seed: 36,
      steps: 2,
      batchSizes: [2, 3, 0],
      optimizer: { sgd: { lr: 0.3 } },
      vocabOov: { a: 0 },
      tables: [
        table('a', 10, 4, {
          vocab: writeVocab(
            path.join(dir, 'a.parquet'),
            ids(8),
            ids(8).map((i) => (3 * i + 1) % 10),
          ),
        }),
        table('b', 6, 4, {
          vocab: writeVocab(
            path.join(dir, 'b.parquet'),
            ids(4),
            ids(4).map((i) => 5 - i),
          ),
        }),
        table('c', 5, 2, { feature_names: ['f'] }),
        table('d', 7, 3, { feature_names: ['f', 'g'] }),
      ],
      plan: { a: 'row_wise', b: 'column_wise', c: 'table_wise', d: 'row_wise' },
    });
    const split = (name: string, optimizer: object, extra: object = {}) => ({
      name,
      seed: 35,
      steps: 3,
      shards: 2,
      batchSizes: [3, 0, 2],
      optimizer,
      tables: [table('s', 6, 4, extra)],
    });
    const splitCases = [
      split('splitRowwiseAdagrad', { rowwise_adagrad: { lr: 0.1 } }, { pooling: 'MEAN' }),
      split('splitPartialAdam', { partial_rowwise_adam: { lr: 0.05 } }, { data_type: 'fp16' }),
      split('splitLamb', { lamb: { lr: 0.05 } }),
    ];
    const badPlans = [
      { tables: [table('t', 10, 3)], plan: { t: 'column_wise' } },
      { tables: [table('t', 10, 4)], plan: { t: { sharding_type: 'table_row_wise', ranks: [0, 5] } } },
    ];
    const results = await run<Results>('parity', 2, { cases, splitCases, badPlans }, { LOCAL_WORLD_SIZE: '2' });
    for (const r of results) {
      for (const name of ['cwSgd', 'cwAdamWeighted', 'cwAdagradFp16']) expectExact(r[name]);
      expectRowWise(r.trwOneNode);
      expectRowWise(r.vocabShared);
      expect(r.cwSgd.steps).toBe(3);
      expectSplit(r.splitRowwiseAdagrad, ['momentum1']);
      expectSplit(r.splitPartialAdam, ['momentum1', 'momentum2']);
      expectSplit(r.splitLamb, ['momentum1', 'momentum2']);
      expect(r.badPlans.map((e) => e?.code)).toEqual(['ERR_INVALID_CONFIG', 'ERR_INVALID_CONFIG']);
      expect(r.badPlans[0]?.message).toContain('embedding_dim 3');
      expect(r.badPlans[1]?.message).toContain('5');
    }
    // Each rank counts the ids of its own batches; together, the one process's counts of the global batch.
    const { ref } = results[0].vocabShared.vocab;
    expect(Object.keys(ref).sort()).toEqual(['a', 'b']);
    for (const t of ['a', 'b']) {
      expect(ref[t].missing).toBeGreaterThan(0);
      for (const k of ['lookups', 'missing'] as const) {
        expect(results[0].vocabShared.vocab.sharded[t][k] + results[1].vocabShared.vocab.sharded[t][k]).toBe(ref[t][k]);
      }
    }
    // tableNorms with a random seed: rank 0's, so every rank gets the same numbers.
    expect(results[1].cwSgd.randomNorms).toEqual(results[0].cwSgd.randomNorms);
  }, 90000);

  test('2 ranks on two nodes (localWorldSize 1): table_row_wise stays inside a node', async () => {
    const cases = [
      {
        name: 'trwTwoNodes',
        seed: 41,
        steps: 3,
        batchSizes: [3, 0, 2],
        optimizer: { rowwise_adagrad: { lr: 0.1 } },
        tables: [table('e', 9, 4), table('u', 6, 2, { pooling: 'MEAN' }), table('k', 3, 2)],
        plan: { e: 'table_row_wise', u: 'table_row_wise', k: { sharding_type: 'table_row_wise', ranks: [1] } },
      },
    ];
    const badPlans = [{ tables: [table('t', 10, 4)], plan: { t: { sharding_type: 'table_row_wise', ranks: [0, 1] } } }];
    const results = await run<Results>('parity', 2, { cases, badPlans }, () => ({
      LOCAL_WORLD_SIZE: '1',
      LOCAL_RANK: '0',
    }));
    for (const r of results) {
      expectRowWise(r.trwTwoNodes);
      expect(r.badPlans.map((e) => e?.code)).toEqual(['ERR_INVALID_CONFIG']);
      expect(r.badPlans[0]?.message).toContain('one node');
    }
  }, 60000);

  test('3 ranks: column_wise over all ranks and over two, fp16 MEAN, adam; lamb per column shard; setWeights/setOptimizerState keep each part; a dim that does not divide', async () => {
    const cases = [
      {
        name: 'cw3',
        seed: 51,
        steps: 3,
        batchSizes: [0, 2, 5],
        optimizer: adam,
        tables: [table('x', 5, 6, { data_type: 'fp16', pooling: 'MEAN' }), table('y', 7, 4)],
        plan: { x: 'column_wise', y: { sharding_type: 'column_wise', ranks: [2, 0] } },
      },
    ];
    const splitCases = [
      {
        name: 'split3',
        seed: 52,
        steps: 2,
        shards: 3,
        batchSizes: [2, 0, 1],
        optimizer: { lamb: { lr: 0.05 } },
        tables: [table('l', 5, 6)],
      },
    ];
    const badPlans = [{ tables: [table('t', 10, 4)], plan: { t: 'column_wise' } }];
    // Written whole on every rank, each keeps its part; read back whole (per-row state included).
    const rw = (name: string, optimizer: object) => ({
      name,
      seed: 53,
      optimizer,
      tables: [table('p', 5, 6, { data_type: 'fp16' }), table('q', 7, 3), table('o', 4, 2)],
      plan: { p: 'column_wise', q: { sharding_type: 'column_wise', ranks: [2, 1, 0] }, o: 'row_wise' },
    });
    const writeReads = [rw('rwAdam', { adam: { lr: 0.1 } }), rw('rwRowwise', { partial_rowwise_adam: { lr: 0.1 } })];
    const results = await run<Results & Record<string, number>>('parity', 3, {
      cases,
      splitCases,
      badPlans,
      writeReads,
    });
    for (const r of results) {
      expectExact(r.cw3);
      expectSplit(r.split3, ['momentum1', 'momentum2']);
      expect([r.rwAdam, r.rwRowwise]).toEqual([0, 0]);
      expect(r.badPlans.map((e) => e?.code)).toEqual(['ERR_INVALID_CONFIG']);
      expect(r.badPlans[0]?.message).toContain('does not divide');
    }
  }, 60000);
});
