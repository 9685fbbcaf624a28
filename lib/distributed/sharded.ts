/**
 * What a sharded EmbeddingBagCollection hands the native side: the group, and each table's placement
 * as data (its sharding type and the ranks of its shards, in table order), resolved from the user's
 * plan on every rank alike: validatePlan for the entries given, planSharding for the rest. Both are
 * pure functions of the config, so a bad plan fails on every rank before any collective (no hang).
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { TorchrecError } from '../errors';
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

/** The sharding types the collection implements today. */
const SUPPORTED: readonly ShardingType[] = ['table_wise', 'row_wise', 'column_wise', 'table_row_wise', 'data_parallel'];

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
    if (!SUPPORTED.includes(kind)) {
      throw new TorchrecError(
        'ERR_INVALID_CONFIG',
        `plan.${t.name}: sharding type ${kind} is not supported by the sharded EmbeddingBagCollection yet ` +
          `(supported: ${SUPPORTED.join(', ')})`,
      );
    }
    const all = Array.from({ length: pg.worldSize }, (_, r) => r);
    return { kind, ranks: ranks ?? all };
  });
  return { processGroup: nativeGroup(pg, 'EmbeddingBagCollection'), placement, gradientDivision };
}
