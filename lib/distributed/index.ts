/** Scale-out: process groups and sharding plans. The collectives (./collectives) stay internal. */
export { ProcessGroup } from './process_group';
export type { ProcessGroupOptions, ProcessGroupBackend, ProcessGroupTraffic } from './process_group';
export { planSharding } from './planner';
export type { PlanShardingOptions, PlanShardingResult } from './planner';
export { validatePlan, SHARDING_TYPES } from './plan';
export type { ShardingPlan, ShardingType } from './plan';
export type { ShardedResult } from './sharded';
