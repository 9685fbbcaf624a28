/**
 * What the checkpoint code needs from a module, and nothing more. EmbeddingBagCollection satisfies
 * it as is; keeping the checkpoint code behind this interface lets it live apart from the module
 * classes (and lets LargeEmbeddings reuse it with its `ebc.` key prefix).
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { DataType } from '../enums';
import { TorchrecError } from '../errors';

export interface Checkpointable {
  readonly tables: readonly EmbeddingBagConfig[];
  /** Row-major [N][D] float32 copy (fp16 tables widened). */
  getWeights(table: string): Float32Array;
  /** Row-major [N][D]; fp16 tables round. */
  setWeights(table: string, data: Float32Array): void;
  /** FBGEMM-named optimizer state of a table (`momentum1`, `momentum2`); absent: no optimizer state. */
  optimizerState?(table: string): Record<string, Float32Array>;
  setOptimizerState?(table: string, name: string, data: Float32Array): void;
  /** Completed optimizer steps. */
  readonly step: number;
  setStep?(step: number): void;
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

/**
 * The shape of one optimizer state array: FBGEMM keeps element-wise state as [N][D] and row-wise
 * state (rowwise_adagrad's momentum1, partial_rowwise_adam's momentum2) as [N]. The algorithm
 * decides where it is known (with D = 1 the lengths alone cannot), else the length does.
 */
export function optimizerStateShape(t: EmbeddingBagConfig, name: string, length: number): number[] {
  const algo = t.optimizer as Record<string, unknown> | undefined;
  const rowwise =
    (algo?.rowwise_adagrad && name === 'momentum1') || (algo?.partial_rowwise_adam && name === 'momentum2');
  if (!rowwise && length === t.num_embeddings * t.embedding_dim) return [t.num_embeddings, t.embedding_dim];
  return [length];
}

/** The module's optimizer state, or undefined when the module keeps none (no optimizer API). */
export function readOptimizerState(module: Checkpointable, table: string): Record<string, Float32Array> | undefined {
  if (typeof module.optimizerState !== 'function') return undefined;
  return module.optimizerState(table);
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
