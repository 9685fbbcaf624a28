/**
 * the-algorithm-ml's LargeEmbeddings (common/modules/embedding/embedding.py): an
 * EmbeddingBagCollection built from a LargeEmbeddingsConfig, followed by `surgeryCutPoint`, an
 * identity hook that serving code replaces to post-process the pooled embeddings.
 */
import { LargeEmbeddingsConfig } from './config/embedding';
import { EmbeddingBagCollection, ForwardOptions, TableNormsOptions } from './ebc';
import type { ProcessGroup } from './distributed/process_group';
import * as checkpoint from './checkpoint';
import type { LoadStateDictOptions, RestoredState, SnapshotExtra } from './checkpoint';
import { RestoreSnapshotOptions, validateRestoreSnapshotOptions } from './options/checkpoint';
import { Mode } from './enums';
import { LargeEmbeddingsOptions, validateLargeEmbeddingsOptions } from './options/large_embeddings';
import { KeyedJaggedTensor } from './kjt';
import { KeyedTensor } from './keyed_tensor';

export type { LargeEmbeddingsOptions } from './options/large_embeddings';

export class LargeEmbeddings {
  readonly config: LargeEmbeddingsConfig;
  readonly ebc: EmbeddingBagCollection;
  surgeryCutPoint: (kt: KeyedTensor) => KeyedTensor = (kt) => kt;

  constructor(config: LargeEmbeddingsConfig | object, o: LargeEmbeddingsOptions = {}) {
    this.config = config instanceof LargeEmbeddingsConfig ? config : new LargeEmbeddingsConfig(config);
    // Typed as a local collection for LargeEmbeddings' existing callers; with a processGroup its
    // getWeights/optimizerState return Promises (EmbeddingBagCollection<ProcessGroup>).
    this.ebc = new EmbeddingBagCollection<ProcessGroup | undefined>({
      ...validateLargeEmbeddingsOptions(o),
      tables: this.config.tables,
      optimizer: this.config.optimizer,
    }) as unknown as EmbeddingBagCollection;
  }

  /** The group the tables are sharded across; undefined for a collection of this process only. */
  get processGroup(): ProcessGroup | undefined {
    return this.ebc.processGroup;
  }

  get ready(): Promise<void> {
    return this.ebc.ready;
  }

  /** The EBC's forward (options as EmbeddingBagCollection.forward: `{ out }`), then surgeryCutPoint. */
  async forward(kjt: KeyedJaggedTensor, options?: ForwardOptions): Promise<KeyedTensor> {
    return this.surgeryCutPoint(await this.ebc.forward(kjt, options));
  }

  forwardSync(kjt: KeyedJaggedTensor, options?: ForwardOptions): KeyedTensor {
    return this.surgeryCutPoint(this.ebc.forwardSync(kjt, options));
  }

  /**
   * One training step of the embeddings: `gradOutput` is the gradient w.r.t. the EBC's pooled output
   * ([B][sum of dims], before surgeryCutPoint, which is the identity in training). Tables use their
   * own optimizer, else the config's EmbeddingOptimizerConfig (SGD). See EmbeddingBagCollection.backward.
   */
  backward(kjt: KeyedJaggedTensor, gradOutput: Float32Array): Promise<void> {
    return this.ebc.backward(kjt, gradOutput);
  }

  /** Completed optimizer steps. */
  get step(): number {
    return this.ebc.step;
  }

  setStep(step: number): void {
    this.ebc.setStep(step);
  }

  // Persistence: the state dict keys are `ebc.embedding_bags.<table>.weight`, as the-algorithm-ml's module names them.
  saveSnapshot(dir: string, extra?: SnapshotExtra): Promise<void> {
    return checkpoint.saveSnapshot(this.ebc, dir, extra, { keyPrefix: 'ebc.' });
  }

  restoreSnapshot(dir: string, o?: RestoreSnapshotOptions): Promise<RestoredState> {
    try {
      const options = this.ebc.checkMmap(validateRestoreSnapshotOptions(o));
      return checkpoint.restoreSnapshot(this.ebc, dir, { ...options, keyPrefix: 'ebc.' });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Per table: 'mmap' or 'memory' (the ebc's tableStorage). */
  tableStorage(): Record<string, 'memory' | 'mmap'> {
    return this.ebc.tableStorage();
  }

  saveStateDict(path: string): Promise<void> {
    return checkpoint.saveStateDict(this.ebc, path, { keyPrefix: 'ebc.' });
  }

  loadStateDict(path: string, o: LoadStateDictOptions = {}): Promise<void> {
    try {
      this.ebc.checkMmap(o ?? {});
    } catch (e) {
      return Promise.reject(e);
    }
    return checkpoint.loadStateDict(this.ebc, path, o, { keyPrefix: 'ebc.' });
  }

  get mode(): Mode {
    return this.ebc.mode;
  }

  set mode(m: Mode) {
    this.ebc.setMode(m);
  }

  setMode(m: Mode): void {
    this.ebc.setMode(m);
  }

  /**
   * the-algorithm-ml's log_ebc_norms over `tables_to_log` (or the tables given): each table's mean row
   * L2 norm over at most 4,000,000 sampled rows, keyed by table name. Empty when nothing is to be logged.
   */
  tableNorms(
    tables: readonly string[] = this.config.tables_to_log ?? [],
    o: TableNormsOptions = {},
  ): Promise<Record<string, number>> {
    return this.ebc.tableNorms(tables, o);
  }
}
