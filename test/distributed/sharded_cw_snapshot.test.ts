/**
 * column_wise tables in sharded snapshots (children/snapshot_child.js): saved on 2 column-wise ranks,
 * restored into one process and into 2 row-wise ranks, and a one-process snapshot restored into
 * column shards, weights, optimizer state (per-element and per-row) and step equal bit for bit. A
 * column_wise table's per-row state is saved once, from the shard holding column 0; the Python
 * oracle (torchsnapshot's rules) reads the column-wise snapshot as the whole tensors.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { describePython, python, tmpDir } from '../checkpoint/helpers';
import { lastJson } from './helpers';
import { startSharded } from './sharded_helpers';

const CHILD = path.join(__dirname, 'children', 'snapshot_child.js');
const TABLES = [
  { name: 'c', num_embeddings: 6, embedding_dim: 4, optimizer: { rowwise_adagrad: { lr: 0.1 } } },
  { name: 'h', num_embeddings: 5, embedding_dim: 6, data_type: 'fp16', optimizer: { adam: { lr: 0.05 } } },
];
const CW = { c: 'column_wise', h: { sharding_type: 'column_wise', ranks: [1, 0] } };
const RW = { c: 'row_wise', h: 'row_wise' };

type Digest = { step: number; tables: Record<string, Record<string, string>> };

/** Runs args.ops on `world` ranks (0: one process without a group); every rank's results, checked equal. */
async function ops(world: number, plan: object | undefined, list: object[]): Promise<unknown[]> {
  const args = { tables: TABLES, unsharded: world === 0, plan, ops: list };
  const ranks = await startSharded('ops', Math.max(world, 1), args, {}, CHILD);
  const reports = (await Promise.all(ranks.map((r) => r.done))).map((res) => {
    const out = lastJson<{ results: unknown[]; fatal?: unknown }>(res);
    if (out.fatal) throw new Error(`rank failed: ${JSON.stringify(out)}\n${res.stderr}`);
    return out.results;
  });
  for (const r of reports.slice(1)) expect(r).toEqual(reports[0]);
  return reports[0];
}

describePython('column_wise snapshots (multi-process)', () => {
  test('column_wise snapshots: 2 column-wise ranks -> 1 process and -> 2 row-wise ranks, 1 process -> column shards, bit for bit', async () => {
    const root = await tmpDir('torchrec-cw-snap-');
    try {
      const cw = path.join(root, 'cw');
      const one = path.join(root, 'one');
      const [, a] = (await ops(2, CW, [
        { op: 'train', steps: 3, salt: 1 },
        { op: 'digest' },
        { op: 'save', dir: cw },
      ])) as [unknown, Digest];
      expect(a.step).toBe(3);
      expect(Object.keys(a.tables.c).sort()).toEqual(['momentum1', 'weight']);
      const py = await python<{ world_size: number; tensors: Record<string, { sha256_f32: string }> }>('snapshots.py', [
        'check',
        cw,
        'ebc',
      ]);
      expect(py.world_size).toBe(2);
      for (const t of TABLES) {
        for (const [k, sha] of Object.entries(a.tables[t.name])) {
          const key =
            k === 'weight'
              ? `model/embedding_bags.${t.name}.weight`
              : `optimizer/state/embedding_bags.${t.name}.weight/${t.name}.${k}`;
          expect([key, py.tensors[key]?.sha256_f32]).toEqual([key, sha]);
        }
      }
      const [restored, single, , b] = (await ops(0, undefined, [
        { op: 'restore', dir: cw },
        { op: 'digest' },
        { op: 'train', steps: 2, salt: 2 },
        { op: 'digest' },
        { op: 'save', dir: one },
      ])) as [unknown, Digest, unknown, Digest];
      expect(restored).toEqual({ ok: { step: 3, walltime: 1.5 } });
      expect(single).toEqual(a);
      expect(b).not.toEqual(a);
      const [, rowWise] = (await ops(2, RW, [{ op: 'restore', dir: cw }, { op: 'digest' }])) as [unknown, Digest];
      expect(rowWise).toEqual(a);
      const [, columns] = (await ops(2, CW, [{ op: 'restore', dir: one }, { op: 'digest' }])) as [unknown, Digest];
      expect(columns).toEqual(b);
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  }, 90000);
});
