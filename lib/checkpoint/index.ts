/**
 * Checkpoints and interop: torchsnapshot snapshots (save/restore, pretrained tables) and torch.save
 * state dicts. Module classes call these with themselves (see Checkpointable) and their key prefix.
 */
export type { Checkpointable, ModuleKeyOptions } from './checkpointable';
export { saveSnapshot, restoreSnapshot } from './snapshot';
export type { SnapshotExtra, RestoredState } from './snapshot';
export { saveStateDict, loadStateDict } from './state_dict';
export type { LoadStateDictOptions } from './state_dict';
export { loadPretrainedTables } from './pretrained';
