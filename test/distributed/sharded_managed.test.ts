/**
 * Managed ids on sharded collections, on 2 real ranks (children/managed_child.js): table_wise tables
 * behave exactly as one process does on the global batch; a row_wise table is one map per shard, ids
 * routed by hash, checked against the TypeScript reference model per shard. Plus the plan rules and
 * the typed stats are in sharded_types.test.ts.
 */
import * as path from 'path';
import { planSharding } from '../../lib/distributed/planner';
import { expectThrows } from '../helpers/errors';
import { python } from '../checkpoint/helpers';
import { tmpDir } from '../helpers/tmp';
import { run as runWith } from './sharded_helpers';

const MANAGED_CHILD = path.join(__dirname, 'children', 'managed_child.js');

interface Stats {
  [table: string]: Record<string, number>;
}

function run<T>(scenario: string, args: object): Promise<T[]> {
  return runWith<T>(scenario, 2, args, {}, MANAGED_CHILD);
}

const managed = { eviction_policy: 'lfu', eviction_interval: 2 };

describe('managed ids on a sharded collection', () => {
  test('table_wise: forwards, weights, optimizer state and stats equal one process on the global batch, through eviction passes', async () => {
    type R = {
      forward: number;
      weights: number;
      state: number;
      stats: Stats[];
      refStats: Stats[];
      evaluate: number;
      evalStats: Stats[];
    };
    const ranks = await run<R>('tableWise', { steps: 6 });
    for (const r of ranks) {
      expect(r.forward).toBe(0);
      expect(r.weights).toBe(0);
      expect(r.state).toBe(0);
      expect(r.evaluate).toBe(0);
      expect(r.stats).toEqual(r.refStats);
      expect(r.evalStats[0]).toEqual(r.evalStats[1]);
      // The run exercised what it claims: admissions, default-row hits and evictions on both tables.
      const last = r.stats[r.stats.length - 1];
      for (const t of ['m', 'n']) {
        expect(last[t].admitted).toBeGreaterThan(last[t].residents);
        expect(last[t].evicted).toBeGreaterThan(0);
      }
    }
    expect(ranks[0].stats).toEqual(ranks[1].stats);
  }, 120000);

  test.each(['lfu', 'lru', 'distance_lfu'])(
    'row_wise (%s): one map per shard, ids routed by hash; forwards, rows, stats and re-initialised rows match the reference per shard',
    async (policy) => {
      type R = {
        forward: number;
        reinitialised: number;
        reinitDiff: number;
        stats: Stats[];
        refStats: Stats[];
        rows: number;
        rowMismatch: number;
      };
      const ranks = await run<R>('rowWise', { steps: 8, policy });
      for (const r of ranks) {
        expect(r.forward).toBeLessThanOrEqual(1e-6);
        expect(r.stats).toEqual(r.refStats);
        expect(r.reinitialised).toBeGreaterThan(0);
        expect(r.reinitDiff).toBe(0);
        expect(r.rows).toBeGreaterThan(4);
        expect(r.rowMismatch).toBe(0);
      }
    },
    120000,
  );

  test("a backward of the TRAIN forward's batch reuses the ids it sent; another batch on any rank sends them again, exactly", async () => {
    type R = { collectives: Record<string, number>; weights: number; stats: Stats[] };
    const ranks = await run<R>('backwardBatch', {});
    for (const r of ranks) {
      expect(r.weights).toBe(0);
      expect(r.stats[0]).toEqual(r.stats[1]);
      // Sending the ids again is two more all-to-alls (lengths and ids; the collection is unweighted).
      expect(r.collectives.otherBatchOnRank1).toBe(r.collectives.sameBatch + 2);
      expect(r.collectives.sameBatchAgain).toBe(r.collectives.sameBatch);
    }
  }, 120000);

  test('checkpoints: sharded snapshots and state dicts carry the maps; snapshots cross between one process and ranks', async () => {
    type R = {
      snapshotRepeats: boolean;
      stateDictRepeats: boolean;
      runALength: number;
      unshardedMatches: boolean;
      oneStats?: Stats;
      twStats: Stats;
      rowWiseRefused: { code: string; message: string } | null;
      rowWiseUnchanged: boolean;
      hostileRefused: { code: string; message: string } | null;
      hostileUnchanged: boolean;
    };
    const dir = tmpDir('sharded-managed');
    const ranks = await run<R>('checkpoint', { dir });
    for (const r of ranks) {
      expect(r.runALength).toBe(6);
      expect(r.snapshotRepeats).toBe(true);
      expect(r.stateDictRepeats).toBe(true);
      expect(r.unshardedMatches).toBe(true);
      expect(r.twStats).toEqual(ranks[0].oneStats);
      expect(r.rowWiseRefused?.code).toBe('ERR_CHECKPOINT');
      expect(r.rowWiseUnchanged).toBe(true);
      expect(r.hostileRefused?.code).toBe('ERR_CHECKPOINT');
      expect(r.hostileRefused?.message).toContain('is given to two ids');
      expect(r.hostileUnchanged).toBe(true);
    }
    expect(ranks[0].oneStats!.r.residents).toBeGreaterThan(2);
    // The rank holding the shard names the layout problem; the other names the rank that refused.
    expect(ranks.map((r) => r.rowWiseRefused!.message).join('\n')).toContain('as many shards as it was saved from');
    if (process.env.TORCHREC_SKIP_PYTHON_TESTS === '1') return;
    // Python's torchsnapshot rules read the maps as whole int64 tensors, written once (replicated).
    const py = await python<{ world_size: number; tensors: Record<string, { dtype: string; shape: number[] }> }>(
      'snapshots.py',
      ['check', path.join(dir, 'sharded'), 'ebc'],
    );
    expect(py.world_size).toBe(2);
    for (const t of ['m', 'r']) {
      const part = (p: string) => py.tensors[`model/embedding_bags.${t}.managed_${p}`];
      expect([part('residents').dtype, part('residents').shape[1]]).toEqual(['torch.int64', 4]);
      expect(part('residents').shape[0]).toBeGreaterThan(0);
      expect([part('waiting').dtype, part('waiting').shape[1]]).toEqual(['torch.int64', 3]);
      expect(part('counters').shape).toEqual([4]);
    }
  }, 120000);
});

describe('managed ids in sharding plans', () => {
  const t = (extra: object = {}) => ({
    name: 'm',
    num_embeddings: 10,
    embedding_dim: 4,
    managed_collision: managed,
    ...extra,
  });

  test('column_wise and data_parallel are refused for a managed table, naming it', () => {
    for (const type of ['column_wise', 'data_parallel']) {
      const plan = { m: type as 'column_wise' };
      expectThrows(
        () => planSharding([t()], { worldSize: 2, plan }),
        'ERR_INVALID_CONFIG',
        'table "m" has managed ids',
        type,
      );
    }
  });

  test('row_wise that leaves a shard one row is refused; the planner never replicates a small managed table', () => {
    const plan = { m: 'row_wise' as const };
    const three = t({ num_embeddings: 3 }); // shards of 2 and 1 rows
    expectThrows(
      () => planSharding([three], { worldSize: 2, plan }),
      'ERR_INVALID_CONFIG',
      'shard 1 of managed table "m" one row',
    );
    // table_row_wise without ranks spans one node: 5 rows over 2 ranks are shards of 3 and 2 (over all 4 ranks
    // one shard would get 1 row).
    const five = t({ num_embeddings: 5 });
    const node = planSharding([five], { worldSize: 4, localWorldSize: 2, plan: { m: 'table_row_wise' } });
    expect(node.plan.m.ranks).toHaveLength(2);
    expect(planSharding([t()], { worldSize: 2 }).plan.m.sharding_type).toBe('table_wise');
    expect(planSharding([t({ managed_collision: undefined })], { worldSize: 2 }).plan.m.sharding_type).toBe(
      'data_parallel',
    );
  });
});
