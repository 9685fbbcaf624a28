/**
 * Sharding plans: their types, validation (validatePlan) and the sizes the planner reasons about —
 * bytes a table or a shard of it holds, and bytes a step moves (TorchRec's comm model). The choice
 * itself is in lib/distributed/planner.ts.
 */
import { DataType } from '../enums';
import { EmbeddingBagConfig, readEmbeddingBagConfig, readTables } from '../config/embedding';
import { optimizerAlgorithm } from '../config/optimizer';
import { native } from '../native';
import { ConfigError, Validator, at, describe, isPlainObject } from '../config/validate';
import { hint } from '../config/suggest';

export const SHARDING_TYPES = ['data_parallel', 'table_wise', 'row_wise', 'column_wise', 'table_row_wise'] as const;
export type ShardingType = (typeof SHARDING_TYPES)[number];
export type ShardingPlan = Record<string, ShardingType | { sharding_type: ShardingType; ranks?: number[] }>;
/** A validated plan entry: the ranks holding a part of the table, in shard order. */
export interface PlacedTable {
  sharding_type: ShardingType;
  ranks: number[];
}

/** Reads `tables` as EmbeddingBagConfigs (instances or raw objects), every issue listed at once. */
export function readPlanTables(what: string, tables: unknown): EmbeddingBagConfig[] {
  const v = new Validator();
  const read = readTables(v, { tables }, '', readEmbeddingBagConfig).tables;
  if (v.count > 0 || read === undefined) throw new ConfigError(what, v.issues);
  return read;
}

/** Bytes of one row of a table (or of `dim` of its columns): weights plus the optimizer's fp32 state. */
export function rowBytes(t: EmbeddingBagConfig, dim: number = t.embedding_dim): number {
  const weights = dim * (t.data_type === DataType.FP16 ? 2 : 4);
  const states = t.optimizer === undefined ? [] : native().optimizerStateLayout(optimizerAlgorithm(t.optimizer));
  return weights + states.reduce((sum, s) => sum + (s.perElement ? dim * 4 : 4), 0);
}

export function tableBytes(t: EmbeddingBagConfig): number {
  return t.num_embeddings * rowBytes(t);
}

/** TorchRec's row-wise block: shard i holds rows [i*block, (i+1)*block) ∩ [0, N), so the last may be short or empty. */
export function rowWiseRows(numRows: number, shards: number, i: number): number {
  const block = Math.ceil(numRows / shards);
  return Math.max(0, Math.min(numRows, (i + 1) * block) - i * block);
}

/** What each of `placed.ranks` holds of `t`, in bytes (parallel to placed.ranks). */
export function shardBytes(t: EmbeddingBagConfig, placed: PlacedTable): number[] {
  const n = placed.ranks.length;
  switch (placed.sharding_type) {
    case 'data_parallel':
      return placed.ranks.map(() => tableBytes(t));
    case 'table_wise':
      return [tableBytes(t)];
    case 'column_wise':
      // Each shard has dim / n columns; row-wise optimizer state is one value per row on every shard.
      return placed.ranks.map(() => t.num_embeddings * rowBytes(t, t.embedding_dim / n));
    default:
      return placed.ranks.map((_, i) => rowWiseRows(t.num_embeddings, n, i) * rowBytes(t));
  }
}

export interface CommModel {
  worldSize: number;
  localWorldSize: number;
  batchSizePerRank: number;
  idsPerBag: number;
}

const ID_BYTES = 8; // int64 ids, as TorchRec's KJTs carry
const LENGTH_BYTES = 4; // int32 lengths
const OUT_BYTES = 4; // fp32 pooled embeddings and their gradients

/**
 * Bytes one training step (forward + backward) moves between ranks for one table, TorchRec's model
 * for an unweighted KJT: a global batch Bg = batchSizePerRank * W samples, F features reading the
 * table, idsPerBag ids each. All-to-all volumes count the (W'-1)/W' that leaves each rank.
 *   table_wise:      ids + lengths to the owner; Bg*F*D pooled out and the same gradient back
 *   column_wise:     ids + lengths to each of the S column shards; Bg*F*D (split in S) out and back
 *   row_wise:        each id to one shard, lengths to all W; W partial Bg*F*D outputs out and back
 *   table_row_wise:  as row_wise over the node's L ranks (the ids cross nodes once)
 *   data_parallel:   ring allreduce of the dense N*D gradient: 2(W-1) * N*D*4 in all
 */
export function tableCommBytes(t: EmbeddingBagConfig, placed: PlacedTable, m: CommModel): number {
  const W = m.worldSize;
  if (W <= 1) return 0;
  const F = t.feature_names?.length ?? 1;
  const Bg = m.batchSizePerRank * W;
  const leaving = (W - 1) / W;
  const ids = Bg * F * m.idsPerBag * ID_BYTES;
  const lengths = Bg * F * LENGTH_BYTES;
  const pooled = Bg * F * t.embedding_dim * OUT_BYTES;
  const S = placed.ranks.length;
  switch (placed.sharding_type) {
    case 'data_parallel':
      return 2 * (W - 1) * t.num_embeddings * t.embedding_dim * 4;
    case 'table_wise':
      return leaving * (ids + lengths + 2 * pooled);
    case 'column_wise':
      return leaving * (S * (ids + lengths) + 2 * pooled);
    default:
      return leaving * (ids + S * lengths + 2 * S * pooled);
  }
}

function readRanks(v: Validator, raw: unknown, path: string, worldSize: number): number[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) {
    v.add(path, `must be a non-empty array of ranks, got ${describe(raw)}`);
    return undefined;
  }
  const before = v.count;
  const seen = new Set<number>();
  raw.forEach((r, i) => {
    if (!Number.isSafeInteger(r) || (r as number) < 0 || (r as number) >= worldSize) {
      v.add(at(path, i), `must be a rank in [0, ${worldSize}), got ${describe(r)}`);
    } else if (seen.has(r as number)) v.add(at(path, i), `rank ${r} is listed twice`);
    else seen.add(r as number);
  });
  return v.count === before ? (raw as number[]) : undefined;
}

function allRanks(n: number): number[] {
  return Array.from({ length: n }, (_, r) => r);
}

/** Checks one entry, fills in its ranks (planner-placed types get their defaults later: `ranks` undefined). */
/**
 * A managed table's map lives with its rows: one owner (table_wise) or one map per row block, each id
 * hashed to one (row_wise, table_row_wise); columns or replicas would each need the whole map.
 */
function readManagedEntry(v: Validator, t: EmbeddingBagConfig, st: ShardingType, shards: number, path: string): void {
  if (st === 'column_wise' || st === 'data_parallel') {
    v.add(
      path,
      `table "${t.name}" has managed ids (managed_collision), which shard table_wise, row_wise or table_row_wise, not ${st}`,
    );
    return;
  }
  if (st === 'table_wise') return;
  for (let i = 0; i < shards; i++) {
    const rows = rowWiseRows(t.num_embeddings, shards, i);
    if (rows === 1) {
      v.add(
        path,
        `${st} leaves shard ${i} of managed table "${t.name}" one row; each shard's map needs two or more ` +
          `(rows for ids plus its default row): use fewer shards or table_wise`,
      );
      return;
    }
  }
}

function readEntry(
  v: Validator,
  t: EmbeddingBagConfig,
  raw: unknown,
  path: string,
  worldSize: number,
  localWorldSize: number,
): { type: ShardingType; ranks?: number[] } | undefined {
  let type: unknown = raw;
  let ranks: number[] | undefined;
  if (isPlainObject(raw)) {
    for (const key of Object.keys(raw)) {
      if (key !== 'sharding_type' && key !== 'ranks')
        v.add(at(path, key), `unknown field${hint(key, ['sharding_type', 'ranks'])}`);
    }
    type = raw.sharding_type;
    if (raw.ranks !== undefined) ranks = readRanks(v, raw.ranks, at(path, 'ranks'), worldSize);
    path = at(path, 'sharding_type');
  }
  if (typeof type !== 'string' || !(SHARDING_TYPES as readonly string[]).includes(type)) {
    const suggestion = typeof type === 'string' ? hint(type, SHARDING_TYPES) : '';
    v.add(path, `must be one of ${SHARDING_TYPES.join(', ')}, got ${describe(type)}${suggestion}`);
    return undefined;
  }
  const st = type as ShardingType;
  if (ranks !== undefined) {
    if (st === 'table_wise' && ranks.length !== 1)
      v.add(path, `table_wise places a table on one rank, got ranks [${ranks}]`);
    if (st === 'data_parallel' && ranks.length !== worldSize)
      v.add(path, 'data_parallel replicates a table on every rank: leave out ranks');
    if (st === 'table_row_wise' && new Set(ranks.map((r) => Math.floor(r / localWorldSize))).size !== 1) {
      v.add(path, `table_row_wise keeps a table inside one node (${localWorldSize} ranks each), got ranks [${ranks}]`);
    }
  }
  if (t.managed_collision !== undefined) {
    // Without ranks, table_row_wise spans one node's ranks and the other types every rank.
    const shards = ranks?.length ?? (st === 'table_row_wise' ? localWorldSize : worldSize);
    readManagedEntry(v, t, st, shards, path);
  }
  if (st === 'column_wise') {
    const shards = ranks?.length ?? worldSize;
    if (t.embedding_dim % shards !== 0) {
      v.add(
        path,
        `column_wise splits embedding_dim ${t.embedding_dim} of table "${t.name}" into ${shards} equal blocks, which does not divide`,
      );
    }
  }
  return { type: st, ranks };
}

export interface PlanEntries {
  /** Entries the plan names, in table order; ranks undefined where the planner picks them. */
  entries: Map<string, { type: ShardingType; ranks?: number[] }>;
}

/** Validates `plan` against `tables`, listing every issue; entries without ranks are left to the planner. */
export function readPlanEntries(
  v: Validator,
  tables: EmbeddingBagConfig[],
  plan: unknown,
  worldSize: number,
  localWorldSize: number,
): PlanEntries {
  const entries = new Map<string, { type: ShardingType; ranks?: number[] }>();
  if (!isPlainObject(plan)) {
    v.add('plan', `must be an object of table name -> sharding type, got ${describe(plan)}`);
    return { entries };
  }
  const names = tables.map((t) => t.name);
  for (const key of Object.keys(plan)) {
    if (!names.includes(key)) v.add(at('plan', key), `no table named ${JSON.stringify(key)}${hint(key, names)}`);
  }
  for (const t of tables) {
    if (!Object.prototype.hasOwnProperty.call(plan, t.name)) continue;
    const e = readEntry(v, t, plan[t.name], at('plan', t.name), worldSize, localWorldSize);
    if (e !== undefined) entries.set(t.name, e);
  }
  return { entries };
}

/** The ranks an entry without `ranks` spans, where that does not need the planner's choice. */
export function impliedRanks(type: ShardingType, worldSize: number): number[] | undefined {
  return type === 'table_wise' || type === 'table_row_wise' ? undefined : allRanks(worldSize);
}

/**
 * ERR_INVALID_CONFIG (listing every issue) for an unknown table or type, column_wise with a dim the
 * shard count does not divide, ranks out of range or repeated. A pure function of its arguments, so
 * every rank reaches the same verdict without talking to the others. Returns the entries in object
 * form with their ranks where the entry or its type fixes them (data_parallel, row_wise and
 * column_wise without ranks span every rank); table_wise and table_row_wise entries without ranks
 * keep none: planSharding({ plan }) places them.
 */
export function validatePlan(
  tables: (EmbeddingBagConfig | object)[],
  plan: ShardingPlan,
  worldSize: number,
  localWorldSize: number = worldSize,
): Record<string, { sharding_type: ShardingType; ranks?: number[] }> {
  const v = new Validator();
  if (!Number.isSafeInteger(worldSize) || worldSize < 1)
    v.add('worldSize', `must be a positive integer, got ${describe(worldSize)}`);
  if (!Number.isSafeInteger(localWorldSize) || localWorldSize < 1 || localWorldSize > worldSize) {
    v.add('localWorldSize', `must be an integer in [1, worldSize], got ${describe(localWorldSize)}`);
  }
  if (v.count > 0) throw new ConfigError('sharding plan', v.issues);
  const read = readPlanTables('sharding plan tables', tables);
  const { entries } = readPlanEntries(v, read, plan, worldSize, localWorldSize);
  if (v.count > 0) throw new ConfigError('sharding plan', v.issues);
  const out: Record<string, { sharding_type: ShardingType; ranks?: number[] }> = {};
  for (const [name, e] of entries) {
    const ranks = e.ranks ?? impliedRanks(e.type, worldSize);
    out[name] = ranks === undefined ? { sharding_type: e.type } : { sharding_type: e.type, ranks: [...ranks] };
  }
  return out;
}
