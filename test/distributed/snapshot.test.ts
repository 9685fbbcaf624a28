/**
 * Sharded torchsnapshot save/restore across real processes (children/snapshot_child.js): a snapshot
 * saved on N ranks restores on M ranks with another plan and into a one-process collection, and a
 * one-process snapshot restores into a sharded one; weights, optimizer state and step equal bit for
 * bit (sha256 of every tensor's bytes); the Python reader oracle (torchsnapshot's rules) reads the
 * sharded snapshots as whole tensors equal to getWeights; a hostile manifest changes no rank.
 * Uneven (11 rows on 2 and 3 ranks) and empty (4 rows on 3 ranks) row-wise shards, table_wise,
 * data_parallel; fp32 and fp16; rowwise_adagrad and adam.
 */
import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { TS_REGISTER } from '../helpers/reliability';
import { describePython, python, tmpDir } from '../checkpoint/helpers';
import { cleanEnv, freePort, lastJson, start } from './helpers';

const CHILD = path.join(__dirname, 'children', 'snapshot_child.js');
const TIMEOUT_MS = 8000;

const adagrad = { rowwise_adagrad: { lr: 0.1 } };
const adam = { adam: { lr: 0.05 } };
const TABLES = [
  { name: 'rw', num_embeddings: 11, embedding_dim: 4, optimizer: adagrad },
  { name: 'tw', num_embeddings: 7, embedding_dim: 2, data_type: 'fp16', optimizer: adam },
  { name: 'dp', num_embeddings: 5, embedding_dim: 4, optimizer: adam },
  { name: 'h', num_embeddings: 9, embedding_dim: 4, data_type: 'fp16', optimizer: adagrad },
  { name: 'e', num_embeddings: 4, embedding_dim: 2, optimizer: adagrad },
];
const P2 = {
  rw: 'row_wise',
  tw: { sharding_type: 'table_wise', ranks: [1] },
  dp: 'data_parallel',
  h: 'row_wise',
  e: { sharding_type: 'table_wise', ranks: [0] },
};
const P3 = {
  rw: { sharding_type: 'table_wise', ranks: [2] },
  tw: 'row_wise',
  dp: 'data_parallel',
  h: 'row_wise',
  e: 'row_wise', // 2, 2 and 0 rows: rank 2 holds no shard of it
};

const dpShard = (extra: object) => ({ table: 'dp', firstRow: 0, rows: 5, firstCol: 0, cols: 4, ...extra });
const ONES = new Array<number>(20).fill(1);
const NEGATIVE = ONES.map((x, i) => (i === 3 ? -1 : x));
/** Every rank holds data_parallel "dp" whole: the same importShards calls are valid or not on every rank. */
const IMPORT_SHARDS_OPS = [
  { op: 'importShards', apply: true, shards: [dpShard({ weight: ONES.slice(1) })] },
  { op: 'importShards', apply: true, shards: [dpShard({ weight: ONES, state: { momentum2: NEGATIVE } })] },
  { op: 'importShards', apply: true, shards: [dpShard({ state: { nope: ONES } })] },
  {
    op: 'importShards',
    apply: true,
    shards: [dpShard({ weight: ONES }), { table: 'rw', firstRow: 0, rows: 3, firstCol: 0, cols: 4 }],
  },
  { op: 'importShards', apply: true, shards: [dpShard({ weight: ONES }), dpShard({ weight: ONES })] },
  { op: 'importShards', apply: false, shards: [dpShard({ weight: ONES })] },
  { op: 'digest' },
  { op: 'importShards', apply: true, shards: [dpShard({ weight: ONES })] },
  { op: 'digest' },
];

type Digest = { step: number; tables: Record<string, Record<string, string>> };
type OpResult = Digest | { ok?: unknown; error?: { code: string; message: string } };

/** Runs `world` ranks of `scenario` (world 0: one process without a group) and returns each rank's report. */
async function run<T>(scenario: string, world: number, args: object): Promise<T[]> {
  const port = await freePort();
  const n = Math.max(world, 1);
  const ranks = Array.from({ length: n }, (_, r) =>
    start(
      [
        '-r',
        TS_REGISTER,
        CHILD,
        scenario,
        JSON.stringify({ timeoutMs: TIMEOUT_MS, tables: TABLES, unsharded: world === 0, ...args }),
      ],
      cleanEnv({ RANK: String(r), WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
      60000,
    ),
  );
  const results = await Promise.all(ranks.map((r) => r.done));
  return results.map((res) => {
    if (res.signal === 'SIGKILL') return null as T;
    const out = lastJson<T & { fatal?: unknown }>(res);
    if (out.fatal) throw new Error(`rank failed: ${JSON.stringify(out)}\n${res.stderr}`);
    return out;
  });
}

/** Every rank's op results, checked to agree across ranks (collective results are the same everywhere). */
async function ops(world: number, plan: object | undefined, list: object[]): Promise<OpResult[]> {
  const reports = await run<{ results: OpResult[] }>('ops', world, { plan, ops: list });
  for (const r of reports.slice(1)) expect(r.results).toEqual(reports[0].results);
  return reports[0].results;
}

describePython('sharded snapshots (multi-process)', () => {
  let root: string;
  beforeAll(async () => {
    root = await tmpDir('torchrec-shard-snap-');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  test('2 ranks -> 3 ranks -> 1 process -> 2 ranks: weights, optimizer state and step bit for bit; Python reads whole tensors', async () => {
    const s2 = path.join(root, 's2');
    const s3 = path.join(root, 's3');
    const s1 = path.join(root, 's1');
    const sd = path.join(root, 'b.pt');
    // Saved on 2 ranks.
    const [, trained2, saved2] = await ops(2, P2, [
      { op: 'train', steps: 3, salt: 1 },
      { op: 'digest' },
      { op: 'save', dir: s2, walltime: 4.25 },
    ]);
    const a = trained2 as Digest;
    expect(a.step).toBe(3);
    expect(saved2).toEqual({}); // { ok: undefined }: the save resolved
    // Restored on 3 ranks with another plan, trained further, saved on 3 ranks.
    const [restored3, digest3, , b, saved3] = (await ops(3, P3, [
      { op: 'restore', dir: s2 },
      { op: 'digest' },
      { op: 'train', steps: 2, salt: 2 },
      { op: 'digest' },
      { op: 'save', dir: s3 },
    ])) as [OpResult, Digest, OpResult, Digest, OpResult];
    expect(restored3).toEqual({ ok: { step: 3, walltime: 4.25 } });
    expect(digest3).toEqual(a);
    expect(b.step).toBe(5);
    expect(b).not.toEqual(a);
    expect(saved3).toEqual({});
    // Into one unsharded process; it saves the one-process layout.
    const single = await ops(0, undefined, [
      { op: 'restore', dir: s2 },
      { op: 'digest' },
      { op: 'restore', dir: s3 },
      { op: 'digest' },
      { op: 'save', dir: s1 },
      { op: 'saveStateDict', path: sd },
    ]);
    expect(single).toEqual([{ ok: { step: 3, walltime: 4.25 } }, a, { ok: { step: 5, walltime: 1.5 } }, b, {}, {}]);
    // The Python oracle reads the sharded snapshots as whole tensors equal to what getWeights returned.
    for (const [dir, want, world] of [
      [s2, a, 2],
      [s3, b, 3],
    ] as const) {
      const py = await python<{
        world_size: number;
        tensors: Record<string, { sha256_f32: string; dtype: string; shape: number[] }>;
        extra_state: { step: number };
      }>('snapshots.py', ['check', dir, 'ebc']);
      expect(py.world_size).toBe(world);
      expect(py.extra_state.step).toBe(want.step);
      for (const t of TABLES) {
        const w = py.tensors[`model/embedding_bags.${t.name}.weight`];
        expect([t.name, w.sha256_f32, w.dtype]).toEqual([
          t.name,
          want.tables[t.name].weight,
          t.data_type === 'fp16' ? 'torch.float16' : 'torch.float32',
        ]);
        for (const s of Object.keys(want.tables[t.name]).filter((k) => k !== 'weight')) {
          const st = py.tensors[`optimizer/state/embedding_bags.${t.name}.weight/${t.name}.${s}`];
          expect([t.name, s, st.sha256_f32]).toEqual([t.name, s, want.tables[t.name][s]]);
        }
      }
    }
    // Hostile copies of s2: a shard moved outside the table, a shard missing, a shard listed twice.
    const outside = path.join(root, 'outside');
    const missing = path.join(root, 'missing');
    const overlap = path.join(root, 'overlap');
    await tamper(s2, outside, (m) => {
      const e = m['1/model/embedding_bags.rw.weight'] as { shards: { offsets: number[] }[] };
      e.shards[0].offsets[0] += 4;
    });
    await tamper(s2, missing, (m) => {
      (m['0/optimizer/state/embedding_bags.h.weight/h.momentum1'] as { shards: unknown[] }).shards = [];
    });
    await tamper(s2, overlap, (m) => {
      const e0 = m['0/model/embedding_bags.h.weight'] as { shards: unknown[] };
      e0.shards.push((m['1/model/embedding_bags.h.weight'] as { shards: unknown[] }).shards[0]);
    });
    // A one-process snapshot whose file lost its last 4 bytes: each rank reads only its rows, yet every
    // file is checked to hold the whole piece.
    const truncated = path.join(root, 'truncated');
    await fsp.cp(s1, truncated, { recursive: true });
    const file = path.join(truncated, '0', 'model', 'embedding_bags.rw.weight');
    await fsp.truncate(file, (await fsp.stat(file)).size - 4);
    // 1 -> 2, bad ones change nothing on any rank, 2 -> 2, 3 -> 2.
    const back = await ops(2, P2, [
      { op: 'restore', dir: s1 },
      { op: 'digest' },
      { op: 'restore', dir: outside },
      { op: 'restore', dir: missing },
      { op: 'restore', dir: overlap },
      { op: 'digest' },
      { op: 'restore', dir: s2 },
      { op: 'digest' },
      { op: 'restore', dir: s3 },
      { op: 'digest' },
      { op: 'restore', dir: s2 },
      { op: 'loadStateDict', path: sd },
      { op: 'digest' },
      ...IMPORT_SHARDS_OPS,
      { op: 'restore', dir: truncated },
      { op: 'digest' },
    ]);
    expect(back[0]).toEqual({ ok: { step: 5, walltime: 1.5 } });
    expect(back[1]).toEqual(b);
    for (const bad of [back[2], back[3], back[4]] as { error: { code: string; message: string } }[]) {
      expect(bad.error.code).toBe('ERR_CHECKPOINT');
      expect(bad.error.message).toMatch(/nothing was changed/);
    }
    const messages = back.slice(2, 5).map((x) => (x as { error: { message: string } }).error.message);
    // The shards' extent is the tensor's shape (torchsnapshot's rule): a shard past the end changes it.
    expect(messages[0]).toMatch(/rank 0: .*embedding_bags\.rw\.weight has shape \[15, 4\], the module has \[11, 4\]/);
    expect(messages[1]).toMatch(/h\.momentum1.*some of the tensor is missing/);
    expect(messages[2]).toMatch(/embedding_bags\.h\.weight: pieces \d and \d overlap/);
    expect(back[5]).toEqual(b);
    // A state dict (weights only) loads into the sharded collection: every rank reads it, keeps its part.
    const loaded = back[12] as Digest;
    expect(back.slice(10, 12)).toEqual([{ ok: { step: 3, walltime: 4.25 } }, {}]);
    expect(loaded.step).toBe(3);
    for (const t of TABLES) {
      expect(loaded.tables[t.name]).toEqual({ ...a.tables[t.name], weight: b.tables[t.name].weight });
    }
    // The native import of a rank's shards: checked, all or nothing, a dry run changes nothing.
    const imports = back.slice(13, 22) as { ok?: unknown; error?: { code: string; message: string } }[];
    expect(imports.slice(0, 5).map((x) => x.error?.code)).toEqual([
      'ERR_SHAPE',
      'ERR_INVALID_ARGUMENT',
      'ERR_INVALID_ARGUMENT',
      'ERR_INVALID_ARGUMENT',
      'ERR_INVALID_ARGUMENT',
    ]);
    expect(imports[0].error!.message).toMatch(/importShards\("dp", rows 0\+5, columns 0\+4\): got 19 weights/);
    expect(imports[1].error!.message).toMatch(/momentum2 of table dp: element 3/);
    expect(imports[2].error!.message).toMatch(/no optimizer state named "nope"/);
    expect(imports[3].error!.message).toMatch(/importShards\("rw", rows 0\+3.*this rank holds no such shard/);
    expect(imports[4].error!.message).toMatch(/given twice/);
    expect(imports.slice(5, 7)).toEqual([{}, loaded]); // the dry run passed and changed nothing
    expect(imports[7]).toEqual({});
    const ones = createHash('sha256')
      .update(Buffer.from(new Float32Array(20).fill(1).buffer))
      .digest('hex');
    expect(imports[8]).toEqual({
      ...loaded,
      tables: { ...loaded.tables, dp: { ...loaded.tables.dp, weight: ones } },
    });
    const cut = back[22] as { error: { code: string; message: string } };
    expect(cut.error.code).toBe('ERR_CHECKPOINT');
    expect(cut.error.message).toMatch(/embedding_bags\.rw\.weight holds 172 bytes, but the piece needs 176/);
    expect(back[23]).toEqual(imports[8]);
    expect(back.slice(6, 10)).toEqual([{ ok: { step: 3, walltime: 4.25 } }, a, { ok: { step: 5, walltime: 1.5 } }, b]);
  }, 120000);
});

async function tamper(src: string, dst: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  await fsp.cp(src, dst, { recursive: true });
  const file = path.join(dst, '.snapshot_metadata');
  const meta = JSON.parse(await fsp.readFile(file, 'utf8')) as { manifest: Record<string, unknown> };
  edit(meta.manifest);
  await fsp.writeFile(file, JSON.stringify(meta));
}
