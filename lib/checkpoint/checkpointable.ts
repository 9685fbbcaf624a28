/**
 * What the checkpoint code needs from a module, and nothing more. EmbeddingBagCollection satisfies
 * it as is; keeping the checkpoint code behind this interface lets it live apart from the module
 * classes (and lets LargeEmbeddings reuse it with its `ebc.` key prefix).
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { DataType } from '../enums';
import { TorchrecError } from '../errors';
import type { ProcessGroup } from '../distributed/process_group';
import type { NativeExportedState, NativeShardState, NativeStateImport, NativeStateInfo } from '../native';

/** The module's state calls as a load or save inside inCallOrder makes them (not queued behind itself). */
export interface StateAccess {
  /** Weights in their stored dtype, with or without optimizer state, and the step, under one ticket. */
  exportState(tables: readonly string[], withState: boolean): Promise<NativeExportedState>;
  /** Applies weights / state / step (undefined: keep), all checked by the core before anything changes. */
  importState(tables: NativeStateImport, step?: number): Promise<void>;
  /** A sharded collection's own shards (sharded_snapshot.ts); absent on other modules. */
  exportShards?(withWeights: boolean, withState: boolean): Promise<{ step: number; shards: NativeShardState[] }>;
  importShards?(shards: NativeShardState[], step: number | undefined, apply: boolean): Promise<void>;
}

export interface Checkpointable {
  readonly tables: readonly EmbeddingBagConfig[];
  /** Completed optimizer steps. */
  readonly step: number;
  /** Set when the tables are sharded across this group: snapshots are then saved and restored by every rank. */
  readonly processGroup?: ProcessGroup;
  /** The core's layout of a table's optimizer state: names, shapes, value rules ([] without an optimizer). */
  optimizerStateLayout(table: string): NativeStateInfo[];
  /**
   * Runs `work` at this point of the module's call order: calls made while it runs (while a restore
   * reads its files, say) wait for it instead of overtaking it.
   */
  inCallOrder<T>(work: (m: StateAccess) => Promise<T>): Promise<T>;
}

/** Where the module's own keys live in a state dict: '' for an EBC, 'ebc.' for LargeEmbeddings. */
export interface ModuleKeyOptions {
  keyPrefix?: string;
}

/** `<prefix>embedding_bags.<table>.weight`, TorchRec's EBC state-dict key. */
export function weightKey(keyPrefix: string, table: string): string {
  return `${keyPrefix}embedding_bags.${table}.weight`;
}

export type TableDtype = 'float32' | 'float16';

export function tableDtype(t: EmbeddingBagConfig): TableDtype {
  return t.data_type === DataType.FP16 ? 'float16' : 'float32';
}

export function tableShape(t: EmbeddingBagConfig): number[] {
  return [t.num_embeddings, t.embedding_dim];
}

export function checkpointError(message: string): TorchrecError {
  return new TorchrecError('ERR_CHECKPOINT', message);
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Wraps an fs/zip error in ERR_CHECKPOINT naming the file; TorchrecErrors pass through unchanged. */
export function wrapIoError(e: unknown, what: string): TorchrecError {
  if (e instanceof TorchrecError) return e;
  const err = e as NodeJS.ErrnoException;
  const reason = err && err.code === 'ENOENT' ? 'does not exist' : (err?.message ?? String(e));
  return checkpointError(`${what}: ${reason}`);
}
