/**
 * TorchRec's EmbeddingBagCollection: several embedding tables, each read by one or more features of
 * a KeyedJaggedTensor, pooled per bag into a KeyedTensor. Lookups run in the native core; `forward`
 * and `backward` run off the JS thread. `backward` applies each table's fused optimizer inside the
 * backward pass (TorchRec's apply_optimizer_in_backward / FBGEMM's fused TBE): no dense gradient of a
 * table is ever built.
 *
 * Calls on one collection apply in the order they are made, whether they run on or off the JS
 * thread: a forward issued after a backward sees the updated weights, one issued before does not.
 */
import { EmbeddingBagConfig } from './config/embedding';
import { EmbeddingOptimizerConfig } from './config/optimizer';
import { EmbeddingBagCollectionOptions, resolveEbcOptions } from './ebc_options';
import { DataType, Mode } from './enums';
import { isQuantized } from './config/quantized';
import { quantizedTableConfigs, quantizeTargets } from './quantize';
import { TableNormsOptions, validateTableNormsOptions } from './options/table_norms';
import { ForwardOptions, forwardOut, holdOut } from './options/forward';
import { TorchrecError } from './errors';
import { CallOrderGate } from './call_order_gate';
import { checkGradient, checkKjt, checkOutputSize, checkTableName } from './ebc_inputs';
import { PendingLoads, loadPretrained, loadVocabs } from './ebc_loading';
import { KeyedJaggedTensor } from './kjt';
import { KeyedTensor } from './keyed_tensor';
import { types } from 'util';
import * as checkpoint from './checkpoint';
import type { LoadStateDictOptions, RestoredState, SnapshotExtra } from './checkpoint';
import { RestoreSnapshotOptions, validateRestoreSnapshotOptions } from './options/checkpoint';
import type { StateAccess } from './checkpoint/checkpointable';
import {
  native,
  NativeEmbeddingBagCollection,
  NativeExportedState,
  NativeStateInfo,
  NativeStoredWeights,
  ownPromise,
  ownRealm,
} from './native';
import { nativeTableSpec } from './native_spec';
import type { NativeManagedIdStats as ManagedIdStats } from './native';
import { resolveSharding, ShardedResult } from './distributed/sharded';
import type { ProcessGroup } from './distributed/process_group';

export type { EmbeddingBagCollectionOptions } from './ebc_options';
export type { ForwardOptions } from './options/forward';
export type { ManagedIdStats };

const MODES: string[] = Object.values(Mode);

export { TABLE_NORM_SAMPLE_ROWS, type TableNormsOptions } from './options/table_norms';

/**
 * `G` is the type of the collection's processGroup, inferred from the constructor's options: a
 * collection built with a ProcessGroup is sharded, and its collective reads (getWeights,
 * optimizerState) are typed as the Promises they return; without one (the default) they stay
 * synchronous. Options whose type only says the group is optional (a variable typed
 * EmbeddingBagCollectionOptions) infer a ProcessGroup: name the type argument instead,
 * `new EmbeddingBagCollection<ProcessGroup | undefined>(options)`, and the reads are typed as either.
 */
export class EmbeddingBagCollection<G extends ProcessGroup | undefined = undefined> {
  readonly tables: readonly EmbeddingBagConfig[];
  readonly isWeighted: boolean;
  readonly device: string;
  readonly optimizer?: EmbeddingOptimizerConfig;
  /** The group the tables are sharded across; undefined for a collection of this process only. */
  readonly processGroup: G;
  /**
   * Resolves once every `pretrained` table is loaded from its snapshot and every table with a `vocab`
   * has its vocabulary loaded (at once when there are none); rejects with the first failure.
   * forward/backward on a collection whose pretrained weights or vocabularies are still loading reject
   * with ERR_INVALID_ARGUMENT ("await ebc.ready before forward: ..."): await `ready` first.
   */
  readonly ready: Promise<void>;
  /** What `ready` still waits for: forward and backward refuse to run while anything is pending. */
  private readonly loads = new PendingLoads();
  private handle: NativeEmbeddingBagCollection | null;
  private readonly keys: string[];
  private readonly dims: number[];
  private currentMode: Mode = Mode.TRAIN;
  /** Seed and vocabulary options as given, for quantize()'s new collection. */
  private readonly seed: number;
  private readonly vocabOov: Record<string, number>;
  private readonly inlineSmallForwards: boolean;
  /** The work inCallOrder runs, and the calls made meanwhile that wait for it. */
  private readonly calls = new CallOrderGate();
  private readonly width: number;
  /** `step` once disposed. */
  private lastStep = 0;

  constructor(options: EmbeddingBagCollectionOptions & { processGroup?: G }) {
    const o = resolveEbcOptions(options);
    this.tables = Object.freeze(o.tables);
    this.isWeighted = o.isWeighted;
    this.device = o.device;
    this.optimizer = o.optimizer;
    this.processGroup = o.processGroup as G;
    this.seed = o.seed;
    this.vocabOov = o.vocabOov;
    this.inlineSmallForwards = o.inlineSmallForwards;
    // A collection with quantized tables is for inference only (setMode refuses TRAIN).
    if (this.quantizedTables().length > 0) this.currentMode = Mode.INFERENCE;
    const sharding = o.processGroup && resolveSharding(o.tables, o.processGroup, o.plan, o.gradientDivision);
    // A table without any optimizer is allowed (inference users build without one); backward names it.
    this.handle = new (native().NativeEmbeddingBagCollection)({
      tables: o.tables.map((t) => nativeTableSpec(t, o.optimizer)),
      isWeighted: o.isWeighted,
      seed: o.seed,
      device: o.device,
      stochasticRounding: o.stochasticRounding,
      ...sharding,
    });
    this.keys = this.handle.outputKeys();
    this.dims = this.handle.outputDims();
    this.width = this.dims.reduce((a, b) => a + b, 0);
    this.ready = Promise.all([
      loadPretrained(this, this.loads),
      loadVocabs(this.tables, o.vocabOov, this.loads, () => this.handle),
    ]).then(() => undefined);
    // The rejection reaches whoever awaits `ready`; without a listener it must not crash the process.
    this.ready.catch(() => undefined);
  }

  /** Output keys in order: tables in order, then each table's features (`feature@table` if shared). */
  outputKeys(): string[] {
    this.live('outputKeys');
    return [...this.keys];
  }

  /** Completed optimizer steps: one per successful backward, across all tables. */
  get step(): number {
    return this.handle ? this.handle.step() : this.lastStep;
  }

  /**
   * Sets the completed-step count, e.g. when restoring a checkpoint, so that learning-rate schedules
   * and Adam's bias correction continue from there. Applied in call order like a weight write.
   */
  setStep(step: number): void {
    const handle = this.live('setStep');
    this.calls.refuseSync('setStep');
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `setStep: step must be a non-negative integer, got ${String(step)}`,
      );
    }
    handle.setStep(step);
  }

  get mode(): Mode {
    return this.currentMode;
  }

  set mode(m: Mode) {
    this.setMode(m);
  }

  setMode(m: Mode): void {
    if (!MODES.includes(m as string)) {
      throw new TorchrecError('ERR_INVALID_MODE', `mode must be one of ${MODES.join(', ')}, got ${String(m)}`);
    }
    const quantized = this.quantizedTables();
    if (m === Mode.TRAIN && quantized.length > 0) {
      throw new TorchrecError(
        'ERR_INVALID_MODE',
        `setMode(${Mode.TRAIN}): table${quantized.length > 1 ? 's' : ''} ${quantized.map((n) => JSON.stringify(n)).join(', ')} ` +
          'are quantized (int8/int4/int2) and cannot be trained; a collection with quantized tables stays in ' +
          `${Mode.EVALUATE} or ${Mode.INFERENCE} mode`,
      );
    }
    if (m === Mode.TRAIN && this.handle?.readOnly()) {
      throw new TorchrecError(
        'ERR_INVALID_MODE',
        'setMode(TRAIN): this collection serves memory-mapped tables (restored with mmap: true) and is read-only; ' +
          'restore without mmap into a new collection to train',
      );
    }
    this.currentMode = m;
  }

  /**
   * A new collection in INFERENCE mode whose tables are row-wise quantized (FBGEMM's TBE inference
   * layout, FBGEMM's quantizer bit for bit): every table to `to`, or each table a Record names to its
   * type (the others keep theirs). fp32 and fp16 tables only; this collection is unchanged.
   */
  quantize(to: DataType | Record<string, DataType>): EmbeddingBagCollection {
    const handle = this.live('quantize');
    this.loads.check('quantize');
    this.calls.refuseSync('quantize');
    if (this.processGroup) {
      throw new TorchrecError('ERR_INVALID_ARGUMENT', 'quantize: a sharded collection cannot be quantized yet');
    }
    const targets = quantizeTargets(this.tables, to);
    const tables = quantizedTableConfigs(this.tables, targets);
    const vocabOov = Object.fromEntries(Object.entries(this.vocabOov).map(([t, r]) => [t, r < 0 ? 'skip' : r]));
    const out = new EmbeddingBagCollection({
      tables,
      isWeighted: this.isWeighted,
      device: this.device,
      seed: this.seed,
      vocabOov: vocabOov as Record<string, number | 'skip'>,
      inlineSmallForwards: this.inlineSmallForwards,
    });
    try {
      // float32 values: quantized by the core (fp16 tables widen exactly, as FBGEMM reads half input).
      for (const t of this.tables) out.setWeights(t.name, handle.getWeights(t.name));
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  private quantizedTables(): string[] {
    return this.tables.filter((t) => isQuantized(t.data_type)).map((t) => t.name);
  }

  /** The pooled lookup off the JS thread; `options.out` is pooled into instead of a new array. */
  forward(kjt: KeyedJaggedTensor, options?: ForwardOptions): Promise<KeyedTensor> {
    let pending: Promise<Float32Array>;
    let out: Float32Array | undefined;
    try {
      const handle = this.live('forward');
      this.loads.check('forward');
      const args = checkOutputSize(checkKjt(kjt, 'forward'), this.width, 'forward').nativeArgs();
      out = forwardOut(options, args, this.width, 'forward');
      const train = this.currentMode === Mode.TRAIN;
      const into = out;
      pending = holdOut(
        out,
        ownPromise(this.calls.submitKjt(args, (a) => handle.forward(...a, train, this.inlineSmallForwards, into))),
      );
    } catch (e) {
      return Promise.reject(e);
    }
    const stride = kjt.stride();
    return pending.then((values) => new KeyedTensor(this.keys, this.dims, out ?? ownRealm(values), stride));
  }

  /** The pooled lookup on the JS thread; `options.out` is pooled into instead of a new array. */
  forwardSync(kjt: KeyedJaggedTensor, options?: ForwardOptions): KeyedTensor {
    const handle = this.live('forwardSync');
    this.loads.check('forwardSync');
    this.calls.refuseSync('forwardSync');
    const args = checkOutputSize(checkKjt(kjt, 'forwardSync'), this.width, 'forwardSync').nativeArgs();
    const out = forwardOut(options, args, this.width, 'forwardSync');
    const values = handle.forwardSync(...args, this.currentMode === Mode.TRAIN, out);
    return new KeyedTensor(this.keys, this.dims, out ?? ownRealm(values), kjt.stride());
  }

  /**
   * A row-major [N][D] float32 copy of a table (fp16 tables widened). On a sharded collection it is a
   * collective (every rank calls it, in the same order) and returns a Promise of the whole table.
   */
  getWeights(table: string): ShardedResult<G, Float32Array> {
    if (this.processGroup) return this.getWeightsAsync(table) as ShardedResult<G, Float32Array>;
    const handle = this.live('getWeights');
    this.calls.refuseSync('getWeights');
    return ownRealm(handle.getWeights(table)) as ShardedResult<G, Float32Array>;
  }

  /** getWeights off the JS thread, in call order; the form a sharded collection's getWeights returns. */
  getWeightsAsync(table: string): Promise<Float32Array> {
    let pending: Promise<Float32Array>;
    try {
      const handle = this.live('getWeights');
      checkTableName(this.tables, table, 'getWeights');
      pending = this.calls.submit(() => handle.getWeightsAsync(table));
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending).then(ownRealm);
  }

  /**
   * Replaces a table's weights from row-major [N][D] data: float32 (rounded to fp16 for fp16 tables),
   * or, for fp16 tables, a Uint16Array of fp16 bits taken as they are. A quantized table quantizes
   * float32 values (FBGEMM's quantizer), or takes a Uint8Array of stored rows ([N][4 + packed codes]:
   * fp16 scale, fp16 bias, codes) as they are.
   */
  setWeights(table: string, data: Float32Array | Uint16Array | Uint8Array | readonly number[]): void {
    const handle = this.live('setWeights');
    this.calls.refuseSync('setWeights');
    const array = Array.isArray(data) ? Float32Array.from(data as number[]) : data;
    handle.setWeights(table, array as NativeStoredWeights);
  }

  /** Where the rows live: 'cpu' or 'cuda:N'. */
  deviceName(): string {
    return this.live('deviceName').device();
  }

  /**
   * One training step: `gradOutput` is the gradient of the loss w.r.t. forward(kjt)'s values,
   * row-major [B][sum of output dims]. Each table's optimizer updates, once, every row the batch
   * touches (all its occurrences across the table's features summed first); other rows and their
   * optimizer state do not change. TRAIN mode only. All-or-nothing: invalid input rejects with every
   * weight untouched. The learning rate of update t is computeLearningRate(schedule, t - 1), or the
   * optimizer's lr without a schedule.
   */
  backward(kjt: KeyedJaggedTensor, gradOutput: Float32Array): Promise<void> {
    let pending: Promise<number>;
    try {
      const handle = this.live('backward');
      this.loads.check('backward');
      if (this.currentMode !== Mode.TRAIN) {
        throw new TorchrecError(
          'ERR_INVALID_MODE',
          `backward() needs mode ${Mode.TRAIN}, but the module is in mode ${this.currentMode}; call setMode(Mode.TRAIN) first`,
        );
      }
      checkKjt(kjt, 'backward');
      checkGradient(kjt, gradOutput, this.width);
      const grad = this.calls.busy ? gradOutput.slice() : gradOutput;
      pending = this.calls.submitKjt(kjt.nativeArgs(), (a) => handle.backward(...a, grad));
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending).then((step) => {
      // Kept for `step` after dispose(), when a backward in flight may still complete.
      this.lastStep = Math.max(this.lastStep, step);
    });
  }

  /**
   * A copy of a table's optimizer state, with FBGEMM's names: adagrad {momentum1 [N*D]},
   * rowwise_adagrad {momentum1 [N]}, adam and lamb {momentum1 [N*D], momentum2 [N*D]},
   * partial_rowwise_adam {momentum1 [N*D], momentum2 [N]}, sgd (or no optimizer) {}.
   * All states start at 0.
   */
  optimizerState(table: string): ShardedResult<G, Record<string, Float32Array>> {
    if (this.processGroup) return this.optimizerStateAsync(table) as ShardedResult<G, Record<string, Float32Array>>;
    const handle = this.live('optimizerState');
    this.calls.refuseSync('optimizerState');
    checkTableName(this.tables, table, 'optimizerState');
    const state = handle.optimizerState(table);
    const out: Record<string, Float32Array> = {};
    for (const [name, data] of Object.entries(state)) out[name] = ownRealm(data);
    return out as ShardedResult<G, Record<string, Float32Array>>;
  }

  /** optimizerState off the JS thread, in call order; the form a sharded collection's optimizerState returns. */
  optimizerStateAsync(table: string): Promise<Record<string, Float32Array>> {
    let pending: Promise<Record<string, Float32Array>>;
    try {
      const handle = this.live('optimizerState');
      checkTableName(this.tables, table, 'optimizerState');
      pending = this.calls.submit(() => handle.optimizerStateAsync(table));
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending).then((state) =>
      Object.fromEntries(Object.entries(state).map(([name, data]) => [name, ownRealm(data)])),
    );
  }

  /** The table's optimizer-state tensors in order, with their shapes ([N, D] or [N]); [] without an optimizer. */
  optimizerStateLayout(table: string): NativeStateInfo[] {
    const handle = this.live('optimizerStateLayout');
    checkTableName(this.tables, table, 'optimizerStateLayout');
    return handle.stateLayout(table);
  }

  /**
   * Weights in their stored dtype (fp16 tables as a Uint16Array of fp16 bits), optimizer state and
   * the step of `tables` (default all), read in call order under one ticket: the state after every
   * call made before this one and none made after. What saveSnapshot writes.
   */
  exportState(tables: readonly string[] = this.tables.map((t) => t.name)): Promise<NativeExportedState> {
    let pending: Promise<NativeExportedState>;
    try {
      const handle = this.live('exportState');
      tables.forEach((n) => checkTableName(this.tables, n, 'exportState'));
      const names = [...tables];
      pending = this.calls.submit(() => handle.exportState(names, true));
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending);
  }

  /** Replaces one state tensor (a name optimizerState returns), e.g. when restoring a checkpoint. */
  setOptimizerState(table: string, name: string, data: Float32Array | readonly number[]): void {
    const handle = this.live('setOptimizerState');
    this.calls.refuseSync('setOptimizerState');
    checkTableName(this.tables, table, 'setOptimizerState');
    if (typeof name !== 'string') {
      throw new TorchrecError('ERR_INVALID_ARGUMENT', `setOptimizerState: name must be a string, got ${typeof name}`);
    }
    const array = Array.isArray(data) ? Float32Array.from(data as number[]) : data;
    if (!types.isFloat32Array(array)) {
      throw new TorchrecError('ERR_DTYPE', 'setOptimizerState: data must be a Float32Array or an array of numbers');
    }
    handle.setOptimizerState(table, name, array);
  }

  /**
   * the-algorithm-ml's log_ebc_norms: for each table, the mean L2 norm of its rows, over every row
   * when the table has at most 4,000,000 rows, else over a uniform sample of that many distinct rows.
   * Computed natively (fp64 accumulation) off the JS thread; keys are the table names.
   */
  tableNorms(tables: readonly string[], o: TableNormsOptions = {}): Promise<Record<string, number>> {
    let pending: Promise<number[]>;
    const names = Array.isArray(tables) ? [...tables] : [];
    try {
      const handle = this.live('tableNorms');
      if (!Array.isArray(tables)) {
        throw new TorchrecError('ERR_INVALID_ARGUMENT', 'tableNorms: tables must be an array of table names');
      }
      names.forEach((n) => checkTableName(this.tables, n, 'tableNorms'));
      const { sampleRows, seed } = validateTableNormsOptions(o);
      pending = this.calls.submit(() => handle.tableNorms(names, sampleRows, seed));
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending).then((norms) => Object.fromEntries(names.map((n, i) => [n, norms[i]])));
  }

  /**
   * Per table with a `vocab`: `lookups`, the entity ids forward calls looked up in its vocabulary, and
   * `missing`, how many of those it lacked (dropped, or sent to the table's vocabOov row). backward
   * applies the same mapping without counting.
   */
  vocabStats(): Record<string, { lookups: number; missing: number }> {
    return this.live('vocabStats').vocabStats();
  }

  /**
   * Per table with `managed_collision`: residents, waiting ids, ids admitted and evicted so far,
   * default-row hits and waiting ids dropped (the waiting set was full), counted by TRAIN forwards
   * (DESIGN.md "Managed ids"). In call order: a call made after a forward sees its admissions.
   * On a sharded collection it is a collective (every rank calls it, in the same order) and returns a
   * Promise of the sums over the tables' shards, on every rank.
   */
  managedIdStats(): ShardedResult<G, Record<string, ManagedIdStats>> {
    type Result = ShardedResult<G, Record<string, ManagedIdStats>>;
    if (this.processGroup) return this.managedIdStatsAsync() as Result;
    return this.live('managedIdStats').managedIdStats() as Result;
  }

  /** managedIdStats off the JS thread, in call order; the form a sharded collection's returns. */
  managedIdStatsAsync(): Promise<Record<string, ManagedIdStats>> {
    let pending: Promise<Record<string, ManagedIdStats>>;
    try {
      const handle = this.live('managedIdStats');
      pending = this.calls.submit(() => handle.managedIdStatsAsync());
    } catch (e) {
      return Promise.reject(e);
    }
    return ownPromise(pending);
  }

  /**
   * Writes a torchsnapshot snapshot (weights, optimizer state, step, walltime); the old one survives a crash.
   * Sharded: collective, torchsnapshot's sharded layout; `dir` must be one path every rank sees (shared filesystem).
   */
  saveSnapshot(dir: string, extra?: SnapshotExtra): Promise<void> {
    return checkpoint.saveSnapshot(this, dir, extra);
  }

  /**
   * Restores a torchsnapshot snapshot; all-or-nothing, and validated against this module's tables.
   * Sharded: collective; any snapshot (saved on any number of ranks with any plan, or by one process).
   * `mmap: true` maps the tables that can be used in place and makes the collection read-only INFERENCE.
   */
  restoreSnapshot(dir: string, o?: RestoreSnapshotOptions): Promise<RestoredState> {
    try {
      return checkpoint.restoreSnapshot(this, dir, this.checkMmap(validateRestoreSnapshotOptions(o)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Writes `embedding_bags.<table>.weight` tensors in torch.save's format (Python's torch.load reads it). */
  saveStateDict(path: string): Promise<void> {
    return checkpoint.saveStateDict(this, path);
  }

  /** Reads a torch.save'd state dict (e.g. Python's `torch.save(module.state_dict())`). */
  loadStateDict(path: string, o: LoadStateDictOptions = {}): Promise<void> {
    try {
      return checkpoint.loadStateDict(this, path, this.checkMmap(o ?? {}));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Per table: 'mmap' when its rows are read in place from a memory-mapped file, else 'memory'. */
  tableStorage(): Record<string, 'memory' | 'mmap'> {
    return this.live('tableStorage').tableStorage();
  }

  /** A mapped restore needs a collection of this process on the CPU (LargeEmbeddings checks through it too). */
  checkMmap<T extends { mmap?: boolean }>(o: T): T {
    if (o?.mmap === true && (this.processGroup || this.device !== 'cpu')) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `mmap: true needs an unsharded CPU collection (this one is ${this.processGroup ? 'sharded' : `on ${this.device}`})`,
      );
    }
    return o;
  }

  /** Frees the tables now. Calls already started finish; any later call is ERR_DISPOSED. */
  dispose(): void {
    if (this.handle) this.lastStep = this.handle.step();
    this.handle?.dispose();
    this.handle = null;
  }

  /**
   * Runs `work` (a restore, a state-dict load, a save's read) at this point of the call order: async
   * calls made while it runs are submitted once it has finished, so none overtakes it, and sync
   * calls are refused (they cannot wait). The checkpoint code calls this (Checkpointable).
   */
  inCallOrder<T>(work: (m: StateAccess) => Promise<T>): Promise<T> {
    const handle = this.live('inCallOrder');
    const direct: StateAccess = {
      exportState: (tables, withState) => ownPromise(handle.exportState([...tables], withState)),
      importState: (tables, step) =>
        ownPromise(handle.importState(tables, step ?? null)).then(() => {
          // A mapped restore made the collection read-only: it now serves (INFERENCE).
          if (handle.readOnly()) this.currentMode = Mode.INFERENCE;
        }),
      exportShards: (withWeights, withState) => ownPromise(handle.exportShards(withWeights, withState)),
      importShards: (shards, step, apply) => ownPromise(handle.importShards(shards, step ?? null, apply)),
    };
    return this.calls.run(() => work(direct));
  }

  private live(method: string): NativeEmbeddingBagCollection {
    if (!this.handle) {
      throw new TorchrecError('ERR_DISPOSED', `${method}() called on a disposed EmbeddingBagCollection`);
    }
    return this.handle;
  }
}
