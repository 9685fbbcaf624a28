/**
 * A rank killed (SIGKILL) in the middle of a sharded saveSnapshot (children/snapshot_child.js
 * killSave): the survivor's save rejects with ERR_DISTRIBUTED within the group's timeout, the
 * snapshot saved before stays in place and restores bit for bit, and the half-written temporary
 * directory is never taken for a snapshot (a later save clears it away).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { TS_REGISTER } from '../helpers/reliability';
import { tmpDir } from '../helpers/tmp';
import { cleanEnv, freePort, lastJson, start } from './helpers';

const CHILD = path.join(__dirname, 'children', 'snapshot_child.js');
const TIMEOUT_MS = 5000;
const TABLES = [
  { name: 'rw', num_embeddings: 11, embedding_dim: 4, optimizer: { rowwise_adagrad: { lr: 0.1 } } },
  { name: 'tw', num_embeddings: 7, embedding_dim: 2, data_type: 'fp16', optimizer: { adam: { lr: 0.05 } } },
];
const PLAN = { rw: 'row_wise', tw: { sharding_type: 'table_wise', ranks: [1] } };

type Digest = { step: number; tables: Record<string, Record<string, string>> };
interface Survivor {
  saved: Digest;
  result: { ok?: unknown; error?: { code: string; message: string } };
  ms: number;
}

async function run<T>(scenario: string, world: number, args: object): Promise<(T | null)[]> {
  const port = await freePort();
  const n = Math.max(world, 1);
  const ranks = Array.from({ length: n }, (_, r) =>
    start(
      [
        '-r',
        TS_REGISTER,
        CHILD,
        scenario,
        JSON.stringify({ timeoutMs: TIMEOUT_MS, tables: TABLES, plan: PLAN, unsharded: world === 0, ...args }),
      ],
      cleanEnv({ RANK: String(r), WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
      60000,
    ),
  );
  const results = await Promise.all(ranks.map((r) => r.done));
  return results.map((res) => {
    if (res.signal === 'SIGKILL') return null;
    const out = lastJson<T & { fatal?: unknown }>(res);
    if (out.fatal) throw new Error(`rank failed: ${JSON.stringify(out)}\n${res.stderr}`);
    return out;
  });
}

async function leftovers(dir: string): Promise<string[]> {
  const base = path.basename(dir);
  return (await fsp.readdir(path.dirname(dir))).filter((n) => n.startsWith(`${base}.`));
}

let root: string;
beforeAll(async () => {
  root = await tmpDir('torchrec-shard-kill-');
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

test.each([
  [1, 'a rank that has not joined the save yet'],
  [0, 'rank 0, after it made the temporary directory'],
])(
  'kill -9 of rank %i mid-save (%s): ERR_DISTRIBUTED, the old snapshot stays and restores',
  async (victim) => {
    const dir = path.join(root, `snap-${victim}`);
    const reports = await run<Survivor>('killSave', 2, { dir, victim });
    expect(reports[victim]).toBeNull(); // killed
    const survivor = reports[1 - victim]!;
    expect(survivor.result.error?.code).toBe('ERR_DISTRIBUTED');
    expect(survivor.ms).toBeLessThan(TIMEOUT_MS + 5000);
    // rank 0 removes its temporary directory when a peer dies; a dead rank 0 leaves one, without metadata.
    const left = await leftovers(dir);
    if (victim === 1) expect(left).toEqual([]);
    else {
      expect(left).toHaveLength(1);
      await expect(fsp.access(path.join(root, left[0], '.snapshot_metadata'))).rejects.toThrow();
    }
    // The snapshot saved before is intact: one process restores it bit for bit; a later save clears leftovers.
    const [single] = await run<{ results: unknown[] }>('ops', 0, {
      ops: [{ op: 'restore', dir }, { op: 'digest' }, { op: 'save', dir }],
    });
    expect(single!.results).toEqual([{ ok: { step: 2, walltime: 2.5 } }, survivor.saved, {}]);
    expect(await leftovers(dir)).toEqual([]);
  },
  60000,
);
