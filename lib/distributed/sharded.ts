/**
 * What a sharded EmbeddingBagCollection hands the native side: the group, and each table's placement
 * as data (its sharding type and the ranks of its shards, in table order), resolved from the user's
 * plan on every rank alike: validatePlan for the entries given, planSharding for the rest. Both are
 * pure functions of the config, so a bad plan fails on every rank before any collective (no hang).
 * Every ShardingType is implemented; the native side runs table_row_wise as row_wise over its
 * node's ranks (validatePlan keeps those inside one node).
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { validatePlan, ShardingPlan, ShardingType } from './plan';
import { planSharding } from './planner';
import { NativeProcessGroup } from './native_process_group';
import { nativeGroup, ProcessGroup } from './process_group';

/** What a collective read returns on a collection whose processGroup has type G: a Promise when sharded. */
export type ShardedResult<G, T> = [G] extends [undefined]
  ? T
  : [G] extends [ProcessGroup]
    ? Promise<T>
    : T | Promise<T>;

export interface NativeShardingOptions {
  processGroup: NativeProcessGroup;
  placement: { kind: ShardingType; ranks: number[] }[];
  gradientDivision: boolean;
}

export function resolveSharding(
  tables: readonly EmbeddingBagConfig[],
  pg: ProcessGroup,
  plan: ShardingPlan | undefined,
  gradientDivision: boolean,
): NativeShardingOptions {
  const given = validatePlan([...tables], plan ?? {}, pg.worldSize, pg.localWorldSize);
  const placed = planSharding([...tables], {
    worldSize: pg.worldSize,
    localWorldSize: pg.localWorldSize,
    memoryPerRankBytes: Number.MAX_SAFE_INTEGER,
    plan: given,
  }).plan;
  const placement = tables.map((t) => {
    const entry = placed[t.name];
    const kind = typeof entry === 'string' ? entry : entry.sharding_type;
    const ranks = typeof entry === 'string' ? undefined : entry.ranks;
    const all = Array.from({ length: pg.worldSize }, (_, r) => r);
    return { kind, ranks: ranks ?? all };
  });
  return { processGroup: nativeGroup(pg, 'EmbeddingBagCollection'), placement, gradientDivision };
}
