/** Serving embeddings: following a training job's snapshots (memory-mapped restores live in checkpoint/). */
export { followSnapshots, newestCompleteSnapshot } from './follow_snapshots';
export type { FollowSnapshotsOptions, RestorableModule, SnapshotFollower } from './follow_snapshots';
