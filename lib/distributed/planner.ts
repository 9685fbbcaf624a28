/**
 * planSharding: a TorchRec-planner-like choice of how each table is sharded, under a per-rank memory
 * budget. TorchRec's planner enumerates every option and searches for the cheapest under its perf
 * model; this one applies the rules that search mostly ends up with, deterministically (a pure
 * function of its arguments, so every rank computes the same plan without talking to the others):
 *   1. tables a plan entry places (with ranks, or a type that fixes them) are kept as given;
 *   2. a table under 1 MiB (weights + optimizer state) is data_parallel: replicating it costs less
 *      than moving its ids and outputs every step (not a managed table: its map has one owner per
 *      row block, so it goes on by the next rules);
 *   3. a table larger than one rank's budget is row_wise over every rank, or table_row_wise over
 *      the least loaded node when there are several nodes and it fits one (the ids then cross nodes
 *      once, as TorchRec's TWRW intends);
 *   4. the rest is table_wise, largest first, each on the least loaded rank (greedy by bytes); a
 *      table no rank can take falls back to row_wise.
 * Bytes are weights plus the table optimizer's fp32 state (the core's layout); the step's traffic is
 * TorchRec's comm model (tableCommBytes). ERR_INVALID_CONFIG when the tables cannot fit.
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { ConfigError, Fields, Validator, checkNumber, readObject } from '../config/validate';
import { TorchrecError } from '../errors';
import {
  CommModel,
  PlacedTable,
  ShardingPlan,
  impliedRanks,
  readPlanEntries,
  readPlanTables,
  rowBytes,
  shardBytes,
  tableBytes,
  tableCommBytes,
} from './plan';

/** Below this (weights + optimizer state) a table is replicated (data_parallel). */
export const DATA_PARALLEL_MAX_BYTES = 1 << 20;
/** TorchRec's planner default for a CPU rank's memory (DDR_CAP): machine-independent, so every rank agrees. */
export const DEFAULT_MEMORY_PER_RANK_BYTES = 128 * 2 ** 30;
/** TorchRec's planner defaults (BATCH_SIZE, POOLING_FACTOR). */
export const DEFAULT_BATCH_SIZE_PER_RANK = 512;
export const DEFAULT_IDS_PER_BAG = 1;

export interface PlanShardingOptions {
  worldSize: number;
  /** Ranks per node (default worldSize: one node); table_row_wise stays inside one. */
  localWorldSize?: number;
  memoryPerRankBytes?: number;
  /** For commBytesPerStep only. */
  batchSizePerRank?: number;
  idsPerBag?: number;
  /** Entries to keep; table_wise / table_row_wise entries without ranks are placed by the planner. */
  plan?: ShardingPlan;
}

export interface PlanShardingResult {
  /** Every table, in object form with its ranks. */
  plan: Record<string, { sharding_type: PlacedTable['sharding_type']; ranks: number[] }>;
  /** Per rank: bytes held (weights + optimizer state) and the tables it holds a part of. */
  ranks: { bytes: number; tables: string[] }[];
  /** Bytes one training step (forward + backward) moves between ranks, summed over ranks. */
  commBytesPerStep: number;
}

const OPTION_KEYS = ['worldSize', 'localWorldSize', 'memoryPerRankBytes', 'batchSizePerRank', 'idsPerBag', 'plan'];

function readOptions(raw: unknown): Required<Omit<PlanShardingOptions, 'plan'>> & { plan?: unknown } {
  const v = new Validator();
  const o: Fields = readObject(v, raw, '', OPTION_KEYS) ?? {};
  if (o.worldSize === undefined) v.add('worldSize', 'is required');
  const worldSize = o.worldSize === undefined ? undefined : checkNumber(v, o.worldSize, 'worldSize', 'positiveInt');
  const num = (key: string, fallback: number | undefined, rule: 'positiveInt' | 'nonNegative') =>
    o[key] === undefined ? fallback : checkNumber(v, o[key], key, rule);
  const localWorldSize = num('localWorldSize', worldSize, 'positiveInt');
  if (worldSize && localWorldSize && localWorldSize > worldSize) {
    v.add('localWorldSize', `must not exceed worldSize (${worldSize}), got ${localWorldSize}`);
  }
  const out = {
    worldSize: worldSize as number,
    localWorldSize: localWorldSize as number,
    memoryPerRankBytes: num('memoryPerRankBytes', DEFAULT_MEMORY_PER_RANK_BYTES, 'nonNegative') as number,
    batchSizePerRank: num('batchSizePerRank', DEFAULT_BATCH_SIZE_PER_RANK, 'nonNegative') as number,
    idsPerBag: num('idsPerBag', DEFAULT_IDS_PER_BAG, 'nonNegative') as number,
    plan: o.plan,
  };
  if (v.count > 0) throw new ConfigError('planSharding options', v.issues);
  return out;
}

export function planSharding(tables: (EmbeddingBagConfig | object)[], o: PlanShardingOptions): PlanShardingResult {
  const opts = readOptions(o);
  const W = opts.worldSize;
  const L = opts.localWorldSize;
  const budget = opts.memoryPerRankBytes;
  const all = readPlanTables('planSharding tables', tables);
  const v = new Validator();
  const { entries } = readPlanEntries(v, all, opts.plan ?? {}, W, L);
  if (v.count > 0) throw new ConfigError('planSharding plan', v.issues);

  const load = new Array<number>(W).fill(0);
  const placed = new Map<string, PlacedTable>();
  const fits = (t: EmbeddingBagConfig, p: PlacedTable) =>
    shardBytes(t, p).every((b, i) => load[p.ranks[i]] + b <= budget);
  const place = (t: EmbeddingBagConfig, p: PlacedTable) => {
    const bytes = shardBytes(t, p);
    const full = bytes.findIndex((b, i) => load[p.ranks[i]] + b > budget);
    if (full >= 0) throw cannotFit(t, p, bytes[full], p.ranks[full], load[p.ranks[full]], budget);
    bytes.forEach((b, i) => (load[p.ranks[i]] += b));
    placed.set(t.name, p);
  };
  const everyRank = Array.from({ length: W }, (_, r) => r);
  const rowWise: PlacedTable = { sharding_type: 'row_wise', ranks: everyRank };
  // The node with the least bytes, as table_row_wise ranks; ties go to the lower node.
  const leastLoadedNode = (): number[] => {
    let best: number[] = [];
    let bestLoad = Infinity;
    for (let first = 0; first < W; first += L) {
      const ranks = everyRank.slice(first, first + L);
      const sum = ranks.reduce((s, r) => s + load[r], 0);
      if (sum < bestLoad) [best, bestLoad] = [ranks, sum];
    }
    return best;
  };
  const leastLoadedRank = () => load.indexOf(Math.min(...load));

  // 1. Entries with their ranks fixed; the order of the remaining work is what the rules say.
  const tableWise: EmbeddingBagConfig[] = [];
  const tableRowWise: EmbeddingBagConfig[] = [];
  const big: EmbeddingBagConfig[] = [];
  for (const t of all) {
    const e = entries.get(t.name);
    const ranks = e === undefined ? undefined : (e.ranks ?? impliedRanks(e.type, W));
    if (e !== undefined && ranks !== undefined) place(t, { sharding_type: e.type, ranks });
    else if (e?.type === 'table_wise') tableWise.push(t);
    else if (e?.type === 'table_row_wise') tableRowWise.push(t);
    else if (tableBytes(t) < DATA_PARALLEL_MAX_BYTES && t.managed_collision === undefined)
      place(t, { sharding_type: 'data_parallel', ranks: everyRank }); // 2.
    else if (tableBytes(t) > budget) big.push(t);
    else tableWise.push(t);
  }
  const largestFirst = (a: EmbeddingBagConfig, b: EmbeddingBagConfig) => tableBytes(b) - tableBytes(a);
  // 3. Too big for one rank: inside one node when there are several and it fits, else over all.
  for (const t of [...big].sort(largestFirst)) {
    const node: PlacedTable = { sharding_type: 'table_row_wise', ranks: leastLoadedNode() };
    place(t, L < W && fits(t, node) ? node : rowWise);
  }
  for (const t of [...tableRowWise].sort(largestFirst))
    place(t, { sharding_type: 'table_row_wise', ranks: leastLoadedNode() });
  // 4. Greedy by bytes.
  for (const t of [...tableWise].sort(largestFirst)) {
    const single: PlacedTable = { sharding_type: 'table_wise', ranks: [leastLoadedRank()] };
    place(t, fits(t, single) || entries.has(t.name) ? single : rowWise);
  }

  const model: CommModel = {
    worldSize: W,
    localWorldSize: L,
    batchSizePerRank: opts.batchSizePerRank,
    idsPerBag: opts.idsPerBag,
  };
  const plan: PlanShardingResult['plan'] = {};
  const ranks = load.map((bytes) => ({ bytes, tables: [] as string[] }));
  let commBytesPerStep = 0;
  for (const t of all) {
    const p = placed.get(t.name) as PlacedTable;
    plan[t.name] = { sharding_type: p.sharding_type, ranks: [...p.ranks] };
    shardBytes(t, p).forEach((b, i) => {
      if (b > 0) ranks[p.ranks[i]].tables.push(t.name);
    });
    commBytesPerStep += tableCommBytes(t, p, model);
  }
  return { plan, ranks, commBytesPerStep: Math.round(commBytesPerStep) };
}

function cannotFit(
  t: EmbeddingBagConfig,
  p: PlacedTable,
  bytes: number,
  rank: number,
  used: number,
  budget: number,
): TorchrecError {
  const how =
    p.sharding_type === 'table_wise'
      ? 'on one rank (table_wise)'
      : p.sharding_type === 'data_parallel'
        ? 'replicated on every rank (data_parallel)'
        : `as ${p.sharding_type} over ranks [${p.ranks.join(', ')}]`;
  return new TorchrecError(
    'ERR_INVALID_CONFIG',
    `planSharding: table "${t.name}" does not fit: it needs ${tableBytes(t)} bytes (${t.num_embeddings} rows x ` +
      `${rowBytes(t)} bytes of weights and optimizer state); ${how} rank ${rank} would need ${bytes} more bytes, ` +
      `but it already holds ${used} of memoryPerRankBytes=${budget}`,
  );
}
