/**
 * The native surface, declared once and kept private: everything public is built on top of it in
 * TypeScript (zeromq.js style). Loading is lazy so that importing the package for its config classes
 * never needs the addon, and a missing build explains itself instead of failing inside require().
 */
import { TorchrecError } from './errors';
import { findAddon } from './loader';

/** One table as the core needs it; built from a validated EmbeddingBagConfig. */
export interface NativeTableSpec {
  name: string;
  numEmbeddings: number;
  embeddingDim: number;
  dataType: 'fp32' | 'fp16' | 'int8' | 'int4' | 'int2';
  pooling: 'SUM' | 'MEAN';
  featureNames: string[];
  initMin: number;
  initMax: number;
  /** A managed-id table (lib/config/managed_collision.ts); absent: plain row ids. */
  managedCollision?: {
    policy: 'lfu' | 'lru' | 'distance_lfu';
    interval: number;
    decayExponent: number;
    maxWaiting: number;
  };
}

export type NativeIdArray = Int32Array | BigInt64Array;

/** forward's KJT arguments: keys, values, lengths | null, offsets | null, weights | null, stride. */
export type NativeKjtArgs = [
  string[],
  NativeIdArray,
  NativeIdArray | null,
  NativeIdArray | null,
  Float32Array | null,
  number,
];

/** A learning-rate schedule as the core reads it (lib/config/learning_rate.ts's LearningRate, flattened). */
export interface NativeSchedule {
  kind: 'constant' | 'linear_ramp_to_constant' | 'linear_ramp_to_cosine' | 'piecewise_constant';
  learningRate?: number;
  finalLearningRate?: number;
  numRampSteps?: number;
  finalNumSteps?: number;
  boundaries?: number[];
  values?: number[];
}

/** A table's fused optimizer as the core reads it: the rule, its rate or schedule, its hyper-parameters. */
export interface NativeOptimizerSpec {
  algorithm: 'sgd' | 'adagrad' | 'rowwise_adagrad' | 'adam' | 'partial_rowwise_adam' | 'lamb';
  lr: number;
  schedule: NativeSchedule | null;
  eps: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  weightDecayMode: 'none' | 'l2' | 'decoupled';
}

/** A table plus its optimizer (null: the table cannot be trained). */
export interface NativeTrainableTableSpec extends NativeTableSpec {
  optimizer: NativeOptimizerSpec | null;
}

/** The constructor's one options object, copied into core specs once (sharp's baton habit). */
export interface NativeModuleOptions {
  tables: NativeTrainableTableSpec[];
  isWeighted: boolean;
  seed: number;
  device: string;
  /** fp16 rows written by the optimizers with FBGEMM's stochastic rounding (default true) or to nearest. */
  stochasticRounding?: boolean;
  /** A sharded collection (lib/distributed/sharded.ts): the native group, placements in table order. */
  processGroup?: unknown;
  placement?: { kind: string; ranks: number[] }[];
  gradientDivision?: boolean;
}

/** One optimizer-state tensor of a table, as the core lays it out. */
export interface NativeStateInfo {
  name: string;
  shape: number[];
  /** A sum of squares the rule takes a root of: values must be >= 0. */
  nonNegative: boolean;
}

/** A table's weights in their stored dtype: float32, fp16 bits in a Uint16Array, or quantized rows in a Uint8Array. */
export type NativeStoredWeights = Float32Array | Uint16Array | Uint8Array;

/** What importState applies: per table, any of its weights (stored dtype or float32) and state tensors. */
export type NativeStateImport = Record<
  string,
  {
    weight?: NativeStoredWeights;
    state?: Record<string, Float32Array>;
    /** Map the rows from there instead of taking `weight`; the collection becomes read-only. */
    mapped?: NativeMappedSource;
    /** Part of a mapped restore (a table that could not be mapped): read-only all the same. */
    serve?: boolean;
    managed?: NativeManagedState;
  }
>;

/** A managed-id table's map and counters (core/managed_ids.h ManagedIdsState). */
export interface NativeManagedState {
  ids: BigInt64Array;
  rows: BigInt64Array;
  counts: BigInt64Array;
  lastSeen: BigInt64Array;
  waitingIds: BigInt64Array;
  waitingCounts: BigInt64Array;
  waitingLastSeen: BigInt64Array;
  admitted: number;
  evicted: number;
  defaultRowHits: number;
  waitingDropped: number;
}

/** managedIdStats() of one table. */
export interface NativeManagedIdStats {
  residents: number;
  waiting: number;
  admitted: number;
  evicted: number;
  defaultRowHits: number;
  waitingDropped: number;
}

/** A table's stored bytes in a file, mapped read-only instead of copied (the core checks dtype, alignment, bounds). */
export interface NativeMappedSource {
  file: string;
  offset: number;
  dtype: 'float32' | 'float16';
}

/** What exportState read under one ticket. */
export interface NativeExportedState {
  step: number;
  tables: Record<
    string,
    { weight: NativeStoredWeights; state: Record<string, Float32Array>; managed?: NativeManagedState }
  >;
}

/** One of a sharded collection's local shards: rows [firstRow, +rows), columns [firstCol, +cols) of `table`. */
export interface NativeShardState {
  table: string;
  firstRow: number;
  rows: number;
  firstCol: number;
  cols: number;
  /** Set on export: a data_parallel table, the same whole table on every rank. */
  replicated?: boolean;
  /** [rows][cols], stored dtype on export (null when not asked for); float32 or stored dtype on import. */
  weight?: NativeStoredWeights | null;
  /** Per-element states [rows][cols], per-row states [rows]. */
  state?: Record<string, Float32Array>;
  /** A managed table's map: on export this shard's part (global rows), on import the whole table's. */
  managed?: NativeManagedState;
}

export interface NativeEmbeddingBagCollection {
  outputKeys(): string[];
  outputDims(): number[];
  /** Where the rows live: "cpu" or "cuda:N". */
  device(): string;
  /**
   * train: a TRAIN-mode forward (managed-id tables admit and count its ids; then it runs as a writer);
   * out: the array to pool into and return (checked by lib/options/forward.ts), else a new one.
   */
  forwardSync(...kjt: [...NativeKjtArgs, boolean?, Float32Array?]): Float32Array;
  /** kjt, then train (admit managed ids), whether a small batch may run on the calling thread, and out. */
  forward(...kjt: [...NativeKjtArgs, boolean?, boolean?, Float32Array?]): Promise<Float32Array>;
  getWeights(table: string): Float32Array;
  /** The same off the JS thread; a collective on a sharded collection. */
  getWeightsAsync(table: string): Promise<Float32Array>;
  setWeights(table: string, data: NativeStoredWeights): void;
  dispose(): void;
  /** One fused optimizer step; resolves with the step number this update became. */
  backward(...args: [...NativeKjtArgs, Float32Array]): Promise<number>;
  step(): number;
  setStep(step: number): void;
  /** The table's optimizer-state tensors, in order, with their shapes ([] without an optimizer). */
  stateLayout(table: string): NativeStateInfo[];
  optimizerState(table: string): Record<string, Float32Array>;
  optimizerStateAsync(table: string): Promise<Record<string, Float32Array>>;
  setOptimizerState(table: string, name: string, data: Float32Array): void;
  tableNorms(tables: string[], maxRows: number, seed: number): Promise<number[]>;
  /** Weights (stored dtype), optimizer state and step of `tables`, read under one ticket, in call order. */
  exportState(tables: string[], withState: boolean): Promise<NativeExportedState>;
  /** Applies weights, state and step (null: keep) in call order under one ticket; all checked before any change. */
  importState(tables: NativeStateImport, step: number | null): Promise<void>;
  /** Sharded collections only, local (waits on no peer): this rank's shards, in call order. */
  exportShards(withWeights: boolean, withState: boolean): Promise<{ step: number; shards: NativeShardState[] }>;
  /** Sharded collections only, local, all-or-nothing; apply false only checks (a dry run). */
  importShards(shards: NativeShardState[], step: number | null, apply: boolean): Promise<void>;
  /**
   * Gives a table its vocabulary (entity id ids[i] -> row rows[i]); oovRow -1 drops missing ids. A writer.
   * A repeated id fails with ERR_CHECKPOINT and `details` {id, first, second} (entry positions).
   */
  setVocab(table: string, ids: BigInt64Array, rows: BigInt64Array | Int32Array, oovRow: number): void;
  /** Per table with a vocabulary: ids looked up by forward calls, and how many of them were missing. */
  vocabStats(): Record<string, { lookups: number; missing: number }>;
  /** Per managed-id table, read in call order (unsharded collections: on the JS thread). */
  managedIdStats(): Record<string, NativeManagedIdStats>;
  /** The same off the JS thread; a collective on a sharded collection. */
  managedIdStatsAsync(): Promise<Record<string, NativeManagedIdStats>>;
  /** Per table: 'mmap' when its rows are read in place from a mapped file, else 'memory'. */
  tableStorage(): Record<string, 'memory' | 'mmap'>;
  /** True once a mapped restore made the collection read-only. */
  readOnly(): boolean;
}

export interface NativeBuildInfo {
  torchVersion: string;
  cuda: boolean;
  parallel: string;
  /** The instruction-set path each CPU kernel family chose on this machine, e.g. { pooledLookup: 'avx2+f16c' }. */
  cpuKernels: Record<string, string>;
  /** What the addon set in glibc's malloc so big results reuse warm memory (README "Performance"), or why not. */
  mallocTuning: string;
  /**
   * Small async forwards run on a dedicated per-thread lane instead of libuv's pool (README "Performance"):
   * false when the build has no lane or TORCHREC_SMALL_CALL_LANE=0 turned it off.
   */
  smallCallLane: boolean;
}

export interface NativeAddon {
  init(errorClass: typeof TorchrecError): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  buildInfo: NativeBuildInfo;
  /** The core's rate for updates firstStep .. firstStep + count - 1 (1-based), as backward uses them. */
  learningRates(optimizer: NativeOptimizerSpec, firstStep: number, count: number): Float64Array;
  /** The core's layout of an algorithm's state: per-element ([N][D]) or row-wise ([N]) fp32 tensors. */
  optimizerStateLayout(
    algorithm: NativeOptimizerSpec['algorithm'],
  ): { name: string; perElement: boolean; nonNegative: boolean }[];
  NativeEmbeddingBagCollection: new (options: NativeModuleOptions) => NativeEmbeddingBagCollection;
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  // Where the file comes from (TORCHREC_NODE_ADDON, a source build, a matching prebuilt): lib/loader.ts.
  const search = findAddon();
  if (!search.found) throw new TorchrecError('ERR_NATIVE_LOAD', search.message);
  const found = search.found;
  let loaded: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(found.path) as NativeAddon;
  } catch (e) {
    throw new TorchrecError(
      'ERR_NATIVE_LOAD',
      `the torchrec-node native addon at ${found.path} (${found.via}) failed to load: ${(e as Error).message}. ` +
        found.loadHint,
    );
  }
  loaded.init(TorchrecError);
  addon = loaded;
  return loaded;
}

/**
 * Native code creates typed arrays in the realm that loaded the addon; under jest or `vm` that is not
 * the caller's realm, and `instanceof Float32Array` would fail there. Re-viewing the same memory with
 * this realm's constructor costs nothing and keeps `instanceof` honest.
 */
export function ownRealm(x: Float32Array): Float32Array {
  if (x instanceof Float32Array) return x;
  const foreign = x as { buffer: ArrayBuffer; byteOffset: number; length: number };
  return new Float32Array(foreign.buffer, foreign.byteOffset, foreign.length);
}

/**
 * The same for promises: a promise made by the addon (and anything chained on it with `.then`)
 * belongs to the addon's realm, so under jest or `vm` `instanceof Promise` fails for it. Adopting
 * it into a promise of this realm costs one microtask, so only a foreign promise is adopted.
 */
export function ownPromise<T>(p: PromiseLike<T>): Promise<T> {
  if (p instanceof Promise) return p as Promise<T>;
  return new Promise<T>((resolve, reject) => {
    p.then(resolve, reject);
  });
}
