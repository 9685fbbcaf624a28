/**
 * saveSnapshot of a sharded collection, in torchsnapshot's sharded layout (io_preparer.py,
 * io_preparers/sharded_tensor.py): every rank writes ITS shards as `sharded/<logical path>_<offsets>`
 * files and lists them in its part of the manifest as ShardedTensor entries (a rank holding no piece
 * of a table lists it with no shards, as torchsnapshot does for a ShardedTensor without local
 * shards); data_parallel tables are written once, by rank 0, as `replicated/<logical path>` with
 * replicated entries on every rank; step and walltime are rank 0's, replicated. Managed-id maps are
 * gathered whole and written like data_parallel tables (sharded_managed.ts).
 *
 * All ranks write into the one temporary directory rank 0 prepared (atomic_dir.ts), so `dir` must be
 * on a filesystem every rank sees at the same path (one machine, or a shared mount). The ranks agree
 * through the process group in three rounds: rank 0 names the temporary directory; every rank reports
 * its manifest part (or its error) once its files are durable; rank 0 writes `.snapshot_metadata`
 * LAST, swaps the directory in and reports. A rank that dies makes the others' round reject with
 * ERR_DISTRIBUTED; rank 0 then removes the temporary directory, and a temporary directory without
 * metadata (rank 0 itself died) is never taken for a snapshot: the previous one stays in place.
 */
import * as path from 'path';
import { allgatherv } from '../distributed/collectives';
import type { ProcessGroup } from '../distributed/process_group';
import { TorchrecError } from '../errors';
import type { NativeShardState } from '../native';
import { validateSnapshotExtra, SnapshotExtra } from '../options/checkpoint';
import { abortReplace, beginReplace, commitReplace } from './atomic_dir';
import {
  Checkpointable,
  checkpointError,
  ModuleKeyOptions,
  tableDtype,
  weightKey,
  wrapIoError,
} from './checkpointable';
import { torchDtypeName } from './dtypes';
import { managedKey, managedModelKeys, ManagedPart, PackedManaged } from './managed_ids';
import { gatherManaged } from './sharded_managed';
import { byteChunks, fsyncPath, writeChunks } from './fs_util';
import {
  ContainerEntry,
  Entry,
  floatEntry,
  intEntry,
  keyToFilename,
  METADATA_FILE,
  Shard,
  SNAPSHOT_VERSION,
  strEntry,
  TensorEntry,
} from './snapshot_manifest';

/** Logical paths of a table's weight and optimizer state (the same as the one-process layout). */
export function modelPath(keyPrefix: string, table: string): string {
  return `model/${keyToFilename(weightKey(keyPrefix, table))}`;
}

export function optimizerPath(keyPrefix: string, table: string, name: string): string {
  return `optimizer/state/${keyToFilename(weightKey(keyPrefix, table))}/${keyToFilename(`${table}.${name}`)}`;
}

/** Every rank passes a JSON value; resolves with every rank's, in rank order (a collective). */
export async function exchange<T>(pg: ProcessGroup, value: T): Promise<T[]> {
  const bytes = new Uint8Array(Buffer.from(JSON.stringify(value), 'utf8'));
  const parts = await allgatherv(pg, bytes, 1);
  return parts.map((p) => JSON.parse(Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8')) as T);
}

/** A verdict round: resolves when no rank reports an error; else rejects naming every rank that did. */
export async function agree(pg: ProcessGroup, error: string | undefined, what: string): Promise<void> {
  const all = await exchange(pg, { error: error ?? null });
  const failed = all.flatMap((v, r) => (v.error === null ? [] : [`rank ${r}: ${v.error}`]));
  if (failed.length > 0) throw checkpointError(`${what}: ${failed.join('; ')}`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Part {
  error?: string;
  containers?: Record<string, ContainerEntry>;
  leaves?: Record<string, Entry>;
}

export async function saveShardedSnapshot(
  module: Checkpointable,
  pg: ProcessGroup,
  dir: string,
  extra: SnapshotExtra = {},
  o: ModuleKeyOptions = {},
): Promise<void> {
  const options = validateSnapshotExtra(extra);
  return module.inCallOrder(async (m) => {
    if (!m.exportShards) throw new TorchrecError('ERR_INTERNAL', 'saveSnapshot: the module has no shards to export');
    const state = await m.exportShards(true, true);
    const managed = await gatherManaged(pg, module.tables, state.shards);
    let tmp: string | undefined;
    let committed = false;
    try {
      // Round 1: rank 0 prepares the temporary directory and names it.
      let prepared: { tmp?: string; error?: string } = {};
      if (pg.rank === 0) {
        try {
          prepared = { tmp: await beginReplace(dir) };
        } catch (e) {
          prepared = { error: message(e) };
        }
        tmp = prepared.tmp;
      }
      const [fromRank0] = await exchange(pg, pg.rank === 0 ? prepared : {});
      if (fromRank0.error !== undefined) {
        throw checkpointError(`saving a snapshot to ${dir}: rank 0 could not prepare it: ${fromRank0.error}`);
      }
      // Round 2: every rank's files are durable; rank 0 learns every manifest part.
      let part: Part;
      try {
        part = await writePart(module, pg.rank, fromRank0.tmp!, state.shards, managed, o.keyPrefix ?? '');
      } catch (e) {
        part = { error: wrapIoError(e, `writing rank ${pg.rank}'s shards`).message };
      }
      const parts = await exchange(pg, part);
      const failed = parts.flatMap((p, r) => (p.error === undefined ? [] : [`rank ${r}: ${p.error}`]));
      if (failed.length > 0) throw checkpointError(`saving a snapshot to ${dir} failed: ${failed.join('; ')}`);
      // Round 3: rank 0 writes the metadata last and swaps the directory in; the others wait for it.
      let error: string | undefined;
      if (pg.rank === 0) {
        try {
          const step = options.step ?? state.step;
          await writeMetadata(tmp!, parts, pg.worldSize, step, options.walltime);
          await commitReplace(tmp!, dir);
          committed = true;
        } catch (e) {
          error = wrapIoError(e, `saving a snapshot to ${dir}`).message;
        }
      }
      const [done] = await exchange(pg, { error: error ?? null });
      if (done.error !== null) throw checkpointError(`saving a snapshot to ${dir}: rank 0 failed: ${done.error}`);
    } finally {
      // A failed round (a dead peer: ERR_DISTRIBUTED) or write: rank 0 drops the incomplete directory.
      if (tmp !== undefined && !committed) await abortReplace(tmp).catch(() => undefined);
    }
  });
}

function tensorEntry(location: string, dtype: string, shape: number[], replicated: boolean): TensorEntry {
  return { type: 'Tensor', location, serializer: 'buffer_protocol', dtype, shape, replicated, byte_range: null };
}

/** Writes this rank's files under `tmp` (fsync'd, with their directories) and returns its manifest part. */
async function writePart(
  module: Checkpointable,
  rank: number,
  tmp: string,
  shards: NativeShardState[],
  managed: Map<string, PackedManaged>,
  keyPrefix: string,
): Promise<Part> {
  const containers: Record<string, ContainerEntry> = {};
  const leaves: Record<string, Entry> = {};
  const dirs = new Set<string>();
  const write = async (location: string, data: ArrayBufferView): Promise<void> => {
    const file = path.join(tmp, ...location.split('/'));
    const written = await writeChunks(file, byteChunks(data));
    if (written !== data.byteLength) throw checkpointError(`${file}: short write`);
    for (let d = path.dirname(file); d.startsWith(tmp + path.sep); d = path.dirname(d)) dirs.add(d);
  };
  const keys = module.tables.map((t) => weightKey(keyPrefix, t.name));
  containers.model = { type: 'OrderedDict', keys: [...keys, ...managedModelKeys(module.tables, keyPrefix)] };
  containers.optimizer = { type: 'dict', keys: ['state', 'param_groups'] };
  containers['optimizer/state'] = { type: 'dict', keys };
  for (const t of module.tables) {
    const mine = shards.filter((s) => s.table === t.name);
    const layout = module.optimizerStateLayout(t.name);
    containers[`optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}`] = {
      type: 'dict',
      keys: layout.map((s) => `${t.name}.${s.name}`),
    };
    const tensors = [
      { logical: modelPath(keyPrefix, t.name), dtype: torchDtypeName(tableDtype(t)), perRow: false, name: '' },
      ...layout.map((s) => ({
        logical: optimizerPath(keyPrefix, t.name, s.name),
        dtype: torchDtypeName('float32'),
        perRow: s.shape.length === 1,
        name: s.name,
      })),
    ];
    const dataParallel = mine.length === 1 && mine[0].replicated === true;
    for (const x of tensors) {
      const data = (s: NativeShardState): ArrayBufferView => (x.name === '' ? s.weight! : s.state![x.name]);
      if (dataParallel) {
        const shape = x.perRow ? [t.num_embeddings] : [t.num_embeddings, t.embedding_dim];
        const location = `replicated/${x.logical}`;
        if (rank === 0) await write(location, data(mine[0]));
        leaves[x.logical] = tensorEntry(location, x.dtype, shape, true);
        continue;
      }
      const out: Shard[] = [];
      for (const s of mine) {
        // A column_wise table's per-row state lives in every column shard; the snapshot keeps the
        // first one's (firstCol 0), as optimizerState reports it, and a restore gives it to each.
        if (x.perRow && s.firstCol > 0) continue;
        const offsets = x.perRow ? [s.firstRow] : [s.firstRow, s.firstCol];
        const sizes = x.perRow ? [s.rows] : [s.rows, s.cols];
        const location = `sharded/${x.logical}_${offsets.join('_')}`;
        await write(location, data(s));
        out.push({ offsets, sizes, tensor: tensorEntry(location, x.dtype, sizes, false) });
      }
      leaves[x.logical] = { type: 'ShardedTensor', shards: out };
    }
    for (const [part, packed] of Object.entries(managed.get(t.name) ?? {})) {
      const logical = `model/${keyToFilename(managedKey(keyPrefix, t.name, part as ManagedPart))}`;
      const location = `replicated/${logical}`;
      if (rank === 0) await write(location, packed.data);
      leaves[logical] = tensorEntry(location, torchDtypeName('int64'), packed.shape, true);
    }
  }
  // KeyedOptimizer.state_dict()'s param_groups: the sorted parameter keys, on every rank.
  containers['optimizer/param_groups'] = { type: 'list' };
  containers['optimizer/param_groups/0'] = { type: 'dict', keys: ['params'] };
  containers['optimizer/param_groups/0/params'] = { type: 'list' };
  [...keys].sort().forEach((k, i) => (leaves[`optimizer/param_groups/0/params/${i}`] = strEntry(k)));
  for (const d of dirs) await fsyncPath(d);
  return { containers, leaves };
}

/** `.snapshot_metadata` over every rank's part (containers first, as torchsnapshot writes them), then fsync. */
async function writeMetadata(
  tmp: string,
  parts: Part[],
  worldSize: number,
  step: number,
  walltime: number,
): Promise<void> {
  const manifest: Record<string, Entry> = {};
  const replicated = <T extends { replicated: boolean }>(e: T): T => ({ ...e, replicated: true });
  parts.forEach((p, r) => {
    for (const [k, e] of Object.entries(p.containers!)) manifest[`${r}/${k}`] = e;
    manifest[`${r}/extra_state`] = { type: 'dict', keys: ['step', 'walltime'] };
  });
  parts.forEach((p, r) => {
    for (const [k, e] of Object.entries(p.leaves!)) manifest[`${r}/${k}`] = e;
    manifest[`${r}/extra_state/step`] = replicated(intEntry(step));
    manifest[`${r}/extra_state/walltime`] = replicated(floatEntry(walltime));
  });
  const text = JSON.stringify({ version: SNAPSHOT_VERSION, world_size: worldSize, manifest }, null, 1);
  await writeChunks(path.join(tmp, METADATA_FILE), [Buffer.from(text, 'utf8')]);
  await fsyncPath(tmp);
}
