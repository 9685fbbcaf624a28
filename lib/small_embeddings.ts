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
import { SmallEmbeddingsConfig } from './config/small_embedding';
import { EmbeddingBagCollection } from './ebc';
import { Mode, PoolingType } from './enums';
import { TorchrecError } from './errors';
import { KeyedJaggedTensor } from './kjt';
import { SmallEmbeddingsOptions, validateSmallEmbeddingsOptions } from './options/small_embeddings';

export type DenseIds = BigInt64Array | Int32Array | readonly number[];

export type { SmallEmbeddingsOptions } from './options/small_embeddings';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export class SmallEmbeddings {
  readonly config: SmallEmbeddingsConfig;
  readonly ebc: EmbeddingBagCollection;
  /** Width of one output row: the sum of the tables' embedding_dim. */
  readonly outputDim: number;

  constructor(config: SmallEmbeddingsConfig | object, o: SmallEmbeddingsOptions = {}) {
    this.config = config instanceof SmallEmbeddingsConfig ? config : new SmallEmbeddingsConfig(config);
    const { seed, collection, perTable } = validateSmallEmbeddingsOptions(o);
    this.ebc = new EmbeddingBagCollection({
      tables: this.config.tables.map((t) => ({
        name: t.name,
        num_embeddings: t.num_embeddings,
        embedding_dim: t.embedding_dim,
        feature_names: [t.name],
        pooling: PoolingType.SUM,
        ...(perTable ? { optimizer: perTable } : {}),
      })),
      seed,
      optimizer: collection,
    });
    this.outputDim = this.config.tables.reduce((sum, t) => sum + t.embedding_dim, 0);
  }

  /** Embeds each row of the dense [B][F] discrete-feature matrix; returns [B][outputDim]. */
  async forward(dense: DenseIds, batchSize: number, numFeatures: number): Promise<Float32Array> {
    const kjt = this.toKjt(dense, batchSize, numFeatures);
    try {
      return (await this.ebc.forward(kjt)).values();
    } catch (e) {
      throw this.inDenseTerms(e, dense, batchSize, numFeatures);
    }
  }

  forwardSync(dense: DenseIds, batchSize: number, numFeatures: number): Float32Array {
    const kjt = this.toKjt(dense, batchSize, numFeatures);
    try {
      return this.ebc.forwardSync(kjt).values();
    } catch (e) {
      throw this.inDenseTerms(e, dense, batchSize, numFeatures);
    }
  }

  /** One training step: `gradOutput` is the gradient w.r.t. forward's output, [B][outputDim]. */
  backward(dense: DenseIds, batchSize: number, numFeatures: number, gradOutput: Float32Array): Promise<void> {
    let kjt: KeyedJaggedTensor;
    try {
      kjt = this.toKjt(dense, batchSize, numFeatures);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.ebc.backward(kjt, gradOutput).catch((e: unknown) => {
      throw this.inDenseTerms(e, dense, batchSize, numFeatures);
    });
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

  /**
   * The dense matrix as a KJT: key k = table k, B bags of one id each (column `index` of each row).
   * Ids are not range-checked here: the collection checks every id against its table on each call,
   * and inDenseTerms names the row and column of the one it rejects.
   */
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
    const ids: (number | bigint)[] = new Array(tables.length * batchSize);
    let needWide = wide;
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
        // An id outside int32 must travel as int64 to reach the range check intact, not wrapped.
        if (typeof raw === 'number' && (raw < INT32_MIN || raw > INT32_MAX)) needWide = true;
        ids[k * batchSize + b] = raw;
      }
    });
    return KeyedJaggedTensor.fromLengths({
      keys: tables.map((t) => t.name),
      values: needWide ? BigInt64Array.from(ids, (x) => BigInt(x)) : Int32Array.from(ids as number[]),
      lengths: new Int32Array(tables.length * batchSize).fill(1),
      stride: batchSize,
    });
  }

  /**
   * The collection's ERR_INDEX_OUT_OF_RANGE names a KJT position; the caller knows a dense matrix.
   * Only after the collection rejected an id, find the first one out of range (the same key-major
   * order the collection checks in) to name its table, row and column; any other error is as thrown.
   */
  private inDenseTerms(e: unknown, dense: DenseIds, batchSize: number, numFeatures: number): unknown {
    if ((e as { code?: unknown } | null)?.code !== 'ERR_INDEX_OUT_OF_RANGE') return e;
    for (const t of this.config.tables) {
      for (let b = 0; b < batchSize; b++) {
        const raw = dense[b * numFeatures + t.index];
        const id = Number(raw);
        if (id < 0 || id >= t.num_embeddings) {
          return new TorchrecError(
            'ERR_INDEX_OUT_OF_RANGE',
            `SmallEmbeddings: table "${t.name}": id ${String(raw)} at row ${b}, column ${t.index} is out of range ` +
              `[0, ${t.num_embeddings})`,
          );
        }
      }
    }
    return e; // the matrix changed after the call: the collection's own message stands
  }
}
