/**
 * the-algorithm-ml's small embeddings (projects/home/recap, `SmallEmbeddingsConfig`): small tables
 * over the dense discrete-feature matrix [B][F], each table embedding one column (`index`) of every
 * row; the output is the tables' embeddings side by side, [B][sum of dims], in table order.
 *
 * Built on the native EmbeddingBagCollection: each table reads one feature (named after the table)
 * with exactly one id per bag, so a bag's SUM is the row itself. Training uses the same fused sparse
 * optimizers as large tables (only the rows the batch touches move). Weights start uniform in
 * ±sqrt(1/num_embeddings), TorchRec's default.
 */
import { types } from 'util';
import { EmbeddingOptimizerConfig, OptimizerConfig } from './config/optimizer';
import { SmallEmbeddingsConfig } from './config/small_embedding';
import { EmbeddingBagCollection } from './ebc';
import { Mode, PoolingType } from './enums';
import { TorchrecError } from './errors';
import { KeyedJaggedTensor } from './kjt';

export type DenseIds = BigInt64Array | Int32Array | readonly number[];

export interface SmallEmbeddingsOptions {
  /** Seeds the weight initialisation; random when absent. */
  seed?: number;
  /**
   * How the tables train: an OptimizerConfig (any algorithm, with its own schedule) for every table,
   * or an EmbeddingOptimizerConfig ({init_learning_rate, learning_rate?}: SGD). Plain objects are
   * told apart by `init_learning_rate`. Without one the module can run forward only.
   */
  optimizer?: OptimizerConfig | EmbeddingOptimizerConfig | object;
}

const INT32_MAX = 2147483647;

function isEmbeddingOptimizer(o: object): boolean {
  return o instanceof EmbeddingOptimizerConfig || (!(o instanceof OptimizerConfig) && 'init_learning_rate' in o);
}

export class SmallEmbeddings {
  readonly config: SmallEmbeddingsConfig;
  readonly ebc: EmbeddingBagCollection;
  /** Width of one output row: the sum of the tables' embedding_dim. */
  readonly outputDim: number;

  constructor(config: SmallEmbeddingsConfig | object, o: SmallEmbeddingsOptions = {}) {
    this.config = config instanceof SmallEmbeddingsConfig ? config : new SmallEmbeddingsConfig(config);
    if (o === null || typeof o !== 'object') {
      throw new TorchrecError(
        'ERR_INVALID_CONFIG',
        'SmallEmbeddings options must be an object like { seed, optimizer }',
      );
    }
    const opt = o.optimizer;
    if (opt !== undefined && (opt === null || typeof opt !== 'object')) {
      throw new TorchrecError(
        'ERR_INVALID_CONFIG',
        'optimizer: must be an OptimizerConfig or an EmbeddingOptimizerConfig',
      );
    }
    // An EmbeddingOptimizerConfig trains every table by SGD; an OptimizerConfig is given to each table.
    let collection: object | undefined;
    let perTable: OptimizerConfig | undefined;
    if (opt !== undefined && isEmbeddingOptimizer(opt)) collection = opt;
    else if (opt !== undefined) perTable = opt instanceof OptimizerConfig ? opt : new OptimizerConfig(opt);
    this.ebc = new EmbeddingBagCollection({
      tables: this.config.tables.map((t) => ({
        name: t.name,
        num_embeddings: t.num_embeddings,
        embedding_dim: t.embedding_dim,
        feature_names: [t.name],
        pooling: PoolingType.SUM,
        ...(perTable ? { optimizer: perTable } : {}),
      })),
      seed: o.seed,
      optimizer: collection,
    });
    this.outputDim = this.config.tables.reduce((sum, t) => sum + t.embedding_dim, 0);
  }

  /** Embeds each row of the dense [B][F] discrete-feature matrix; returns [B][outputDim]. */
  async forward(dense: DenseIds, batchSize: number, numFeatures: number): Promise<Float32Array> {
    return (await this.ebc.forward(this.toKjt(dense, batchSize, numFeatures))).values();
  }

  forwardSync(dense: DenseIds, batchSize: number, numFeatures: number): Float32Array {
    return this.ebc.forwardSync(this.toKjt(dense, batchSize, numFeatures)).values();
  }

  /** One training step: `gradOutput` is the gradient w.r.t. forward's output, [B][outputDim]. */
  backward(dense: DenseIds, batchSize: number, numFeatures: number, gradOutput: Float32Array): Promise<void> {
    let kjt: KeyedJaggedTensor;
    try {
      kjt = this.toKjt(dense, batchSize, numFeatures);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.ebc.backward(kjt, gradOutput);
  }

  get step(): number {
    return this.ebc.step;
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

  getWeights(table: string): Float32Array {
    return this.ebc.getWeights(table);
  }

  setWeights(table: string, data: Float32Array | readonly number[]): void {
    this.ebc.setWeights(table, data);
  }

  optimizerState(table: string): Record<string, Float32Array> {
    return this.ebc.optimizerState(table);
  }

  dispose(): void {
    this.ebc.dispose();
  }

  /** The dense matrix as a KJT: key k = table k, B bags of one id each (column `index` of each row). */
  private toKjt(dense: DenseIds, batchSize: number, numFeatures: number): KeyedJaggedTensor {
    for (const [name, v] of [
      ['batchSize', batchSize],
      ['numFeatures', numFeatures],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new TorchrecError(
          'ERR_INVALID_ARGUMENT',
          `SmallEmbeddings: ${name} must be a non-negative integer, got ${String(v)}`,
        );
      }
    }
    const wide = types.isBigInt64Array(dense);
    if (!wide && !types.isInt32Array(dense) && !Array.isArray(dense)) {
      throw new TorchrecError(
        'ERR_DTYPE',
        'SmallEmbeddings: the dense matrix must be a BigInt64Array, an Int32Array or an array of integers',
      );
    }
    if (dense.length !== batchSize * numFeatures) {
      throw new TorchrecError(
        'ERR_SHAPE',
        `SmallEmbeddings: the dense matrix has ${dense.length} values, expected [${batchSize}][${numFeatures}] = ${batchSize * numFeatures}`,
      );
    }
    const tables = this.config.tables;
    const needWide = wide || tables.some((t) => t.num_embeddings - 1 > INT32_MAX);
    const values = needWide ? new BigInt64Array(tables.length * batchSize) : new Int32Array(tables.length * batchSize);
    tables.forEach((t, k) => {
      if (t.index >= numFeatures) {
        throw new TorchrecError(
          'ERR_SHAPE',
          `SmallEmbeddings: table "${t.name}" reads column ${t.index}, but the dense matrix has ${numFeatures} columns`,
        );
      }
      for (let b = 0; b < batchSize; b++) {
        const raw = dense[b * numFeatures + t.index];
        if (typeof raw === 'number' && !Number.isSafeInteger(raw)) {
          throw new TorchrecError(
            'ERR_INVALID_ARGUMENT',
            `SmallEmbeddings: dense[${b}][${t.index}] must be an integer, got ${raw}`,
          );
        }
        if (typeof raw !== 'number' && typeof raw !== 'bigint') {
          throw new TorchrecError(
            'ERR_DTYPE',
            `SmallEmbeddings: dense[${b}][${t.index}] must be an integer, got ${typeof raw}`,
          );
        }
        const id = Number(raw);
        if (id < 0 || id >= t.num_embeddings) {
          throw new TorchrecError(
            'ERR_INDEX_OUT_OF_RANGE',
            `SmallEmbeddings: table "${t.name}": id ${String(raw)} at row ${b}, column ${t.index} is out of range ` +
              `[0, ${t.num_embeddings})`,
          );
        }
        if (needWide) (values as BigInt64Array)[k * batchSize + b] = BigInt(raw);
        else (values as Int32Array)[k * batchSize + b] = id;
      }
    });
    return KeyedJaggedTensor.fromLengths({
      keys: tables.map((t) => t.name),
      values,
      lengths: new Int32Array(tables.length * batchSize).fill(1),
      stride: batchSize,
    });
  }
}
