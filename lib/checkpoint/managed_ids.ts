/**
 * Managed-id tables in checkpoints: their id -> row map, counts and waiting ids travel as three
 * extra int64 tensors next to the table's weight, in snapshots (`model`) and state dicts alike:
 *
 *   <prefix>embedding_bags.<table>.managed_residents  int64 [R][4]  (raw id, row, count, last step seen)
 *   <prefix>embedding_bags.<table>.managed_waiting    int64 [W][3]  (raw id, count, last step seen)
 *   <prefix>embedding_bags.<table>.managed_counters   int64 [4]     (admitted, evicted, defaultRowHits, waitingDropped)
 *
 * Only tables with managed_collision have them; a restore needs all three for each such table. The
 * core checks the map (rows inside the table, no id or row twice, ...) before anything changes, so a
 * hostile file is an ERR_CHECKPOINT that leaves the module as it was.
 */
import type { EmbeddingBagConfig } from '../config/embedding';
import type { NativeManagedState } from '../native';
import { checkpointError, numel } from './checkpointable';
import type { TensorRef } from './pickle_values';
import type { TorchArchive } from './torch_zip';
import { keyToFilename } from './snapshot_manifest';
import type { SnapshotReader } from './snapshot_reader';
import type { SnapshotWriter } from './snapshot_writer';

export const MANAGED_PARTS = ['managed_residents', 'managed_waiting', 'managed_counters'] as const;
export type ManagedPart = (typeof MANAGED_PARTS)[number];
const WIDTH: Record<ManagedPart, number> = { managed_residents: 4, managed_waiting: 3, managed_counters: 0 };

export function isManaged(t: EmbeddingBagConfig): boolean {
  return t.managed_collision !== undefined;
}

/** `<prefix>embedding_bags.<table>.<part>`. */
export function managedKey(keyPrefix: string, table: string, part: ManagedPart): string {
  return `${keyPrefix}embedding_bags.${table}.${part}`;
}

export type PackedManaged = Record<ManagedPart, { data: BigInt64Array; shape: number[] }>;

export function packManaged(s: NativeManagedState): PackedManaged {
  const r = s.ids.length;
  const residents = new BigInt64Array(r * 4);
  for (let i = 0; i < r; i++) residents.set([s.ids[i], s.rows[i], s.counts[i], s.lastSeen[i]], i * 4);
  const w = s.waitingIds.length;
  const waiting = new BigInt64Array(w * 3);
  for (let i = 0; i < w; i++) waiting.set([s.waitingIds[i], s.waitingCounts[i], s.waitingLastSeen[i]], i * 3);
  const counters = BigInt64Array.from([s.admitted, s.evicted, s.defaultRowHits, s.waitingDropped].map(BigInt));
  return {
    managed_residents: { data: residents, shape: [r, 4] },
    managed_waiting: { data: waiting, shape: [w, 3] },
    managed_counters: { data: counters, shape: [4] },
  };
}

/** Whether `shape` can be `part` (ERR_CHECKPOINT text otherwise). */
export function checkManagedShape(part: ManagedPart, shape: readonly number[], where: string): void {
  const ok =
    part === 'managed_counters' ? shape.length === 1 && shape[0] === 4 : shape.length === 2 && shape[1] === WIDTH[part];
  if (!ok) {
    const want = part === 'managed_counters' ? '[4]' : `[n, ${WIDTH[part]}]`;
    throw checkpointError(`${where} has shape [${shape.join(', ')}], expected ${want}`);
  }
}

export function unpackManaged(parts: Record<ManagedPart, BigInt64Array>, where: string): NativeManagedState {
  const res = parts.managed_residents;
  const wait = parts.managed_waiting;
  const column = (a: BigInt64Array, width: number, c: number) =>
    BigInt64Array.from({ length: a.length / width }, (_, i) => a[i * width + c]);
  const counter = (i: number): number => {
    const v = parts.managed_counters[i];
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw checkpointError(`${where}: counter ${i} is ${v}`);
    return Number(v);
  };
  return {
    ids: column(res, 4, 0),
    rows: column(res, 4, 1),
    counts: column(res, 4, 2),
    lastSeen: column(res, 4, 3),
    waitingIds: column(wait, 3, 0),
    waitingCounts: column(wait, 3, 1),
    waitingLastSeen: column(wait, 3, 2),
    admitted: counter(0),
    evicted: counter(1),
    defaultRowHits: counter(2),
    waitingDropped: counter(3),
  };
}

// --- snapshots (snapshot.ts hooks these in) ---

/** The managed tables' extra `model` keys, in table order. */
export function managedModelKeys(tables: readonly EmbeddingBagConfig[], keyPrefix: string): string[] {
  return tables.filter(isManaged).flatMap((t) => MANAGED_PARTS.map((p) => managedKey(keyPrefix, t.name, p)));
}

/** Writes table `t`'s map under `<rank>/model/`. */
export async function writeManagedSnapshot(
  w: SnapshotWriter,
  rank: string,
  keyPrefix: string,
  t: EmbeddingBagConfig,
  state: NativeManagedState | undefined,
): Promise<void> {
  if (!isManaged(t)) return;
  if (!state) throw checkpointError(`table ${t.name}: the module exported no managed ids`);
  const packed = packManaged(state);
  for (const part of MANAGED_PARTS) {
    await w.int64Tensor(
      `${rank}/model/${keyToFilename(managedKey(keyPrefix, t.name, part))}`,
      packed[part].data,
      packed[part].shape,
    );
  }
}

/**
 * Plans the restore of every managed table's map: a missing part is an issue (reported with the
 * others before anything is read); the returned reads hand each table's map to `use`.
 */
export function planManagedRestore(
  reader: SnapshotReader,
  tables: readonly EmbeddingBagConfig[],
  keyPrefix: string,
  issues: string[],
  use: (table: string, state: NativeManagedState) => void,
): (() => Promise<void>)[] {
  const reads: (() => Promise<void>)[] = [];
  for (const t of tables.filter(isManaged)) {
    const logical = (part: ManagedPart) => `model/${keyToFilename(managedKey(keyPrefix, t.name, part))}`;
    const missing = MANAGED_PARTS.filter((p) => !reader.tensorEntry(logical(p)));
    if (missing.length > 0) {
      issues.push(
        `table ${t.name} has managed_collision but ${missing.map((p) => reader.where(logical(p))).join(', ')} missing`,
      );
      continue;
    }
    reads.push(async () => {
      const parts = {} as Record<ManagedPart, BigInt64Array>;
      for (const p of MANAGED_PARTS) {
        const { data, shape } = await reader.readInt64(logical(p));
        checkManagedShape(p, shape, reader.where(logical(p)));
        parts[p] = data;
      }
      use(t.name, unpackManaged(parts, `managed ids of table ${t.name}`));
    });
  }
  return reads;
}

// --- state dicts (state_dict.ts hooks these in) ---

const PART_SUFFIX = new RegExp(`\\.(${MANAGED_PARTS.join('|')})$`);

/** Whether a state-dict key is a managed-id part (kept out of the weight-key matching). */
export function isManagedKey(key: string): boolean {
  return PART_SUFFIX.test(key);
}

/** The managed parts that go with the weight key `<x>.weight` chosen for a table: `<x>.<part>`. */
export function managedKeysBeside(weightKeyInFile: string): Record<ManagedPart, string> {
  const base = weightKeyInFile.replace(/\.weight$/, '');
  return Object.fromEntries(MANAGED_PARTS.map((p) => [p, `${base}.${p}`])) as Record<ManagedPart, string>;
}

/** A contiguous int64 tensor of a torch.save archive (as saveStateDict writes them), checked. */
export async function readArchiveInt64(archive: TorchArchive, t: TensorRef, where: string): Promise<BigInt64Array> {
  const s = t.storage;
  if (s.dtype !== 'int64') throw checkpointError(`${where} has dtype ${s.dtype}, expected int64`);
  const n = numel(t.size);
  const contiguous = t.stride.every((st, i) => t.size[i] === 1 || st === numel(t.size.slice(i + 1)));
  if (!contiguous || t.offset !== 0 || s.numel !== n) {
    throw checkpointError(`${where} must be a whole contiguous int64 tensor (offset 0, its storage's size)`);
  }
  const record = `data/${s.key}`;
  if (!archive.has(record) || archive.size(record) !== n * 8) {
    throw checkpointError(`${where}: its storage ${archive.archiveName}/${record} is missing or not ${n * 8} bytes`);
  }
  const out = new BigInt64Array(n);
  await archive.readRecordInto(record, new Uint8Array(out.buffer));
  return out;
}

/** The managed parts of table `t` from a state dict whose chosen weight key is `key`; undefined if absent. */
export async function readManagedStateDict(
  archive: TorchArchive,
  file: string,
  tensors: ReadonlyMap<string, TensorRef>,
  t: EmbeddingBagConfig,
  key: string,
): Promise<NativeManagedState> {
  const keys = managedKeysBeside(key);
  const missing = MANAGED_PARTS.filter((p) => !tensors.has(keys[p]));
  if (missing.length > 0) {
    throw checkpointError(
      `${file}: table ${t.name} has managed_collision but the file lacks ${missing.map((p) => keys[p]).join(', ')}`,
    );
  }
  const parts = {} as Record<ManagedPart, BigInt64Array>;
  for (const p of MANAGED_PARTS) {
    const ref = tensors.get(keys[p]) as TensorRef;
    const where = `${file}: entry ${keys[p]}`;
    checkManagedShape(p, ref.size, where);
    parts[p] = await readArchiveInt64(archive, ref, where);
  }
  return unpackManaged(parts, `${file}: managed ids of table ${t.name}`);
}
