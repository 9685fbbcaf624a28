/**
 * Validation of `new EmbeddingBagCollection({...})` options, before any native call, with field paths
 * in the messages (`tables[1].embedding_dim: ...`).
 */
import { EmbeddingBagConfig, readEmbeddingBagConfig, readTables } from './config/embedding';
import { LearningRate } from './config/learning_rate';
import {
  EmbeddingOptimizerConfig,
  OptimizerAlgorithm,
  OptimizerConfig,
  WeightDecayMode,
  optimizerAlgorithm,
  readEmbeddingOptimizerConfig,
} from './config/optimizer';
import { at, Fields, readNested, readObject, validateRoot, Validator } from './config/validate';
import { PoolingType } from './enums';
import { TorchrecError } from './errors';
import type { NativeTableSpec } from './native';

export interface EmbeddingBagCollectionOptions {
  tables: (EmbeddingBagConfig | object)[];
  isWeighted?: boolean;
  /** 'cpu' (default), or 'cuda' / 'cuda:N' on a CUDA build. */
  device?: string;
  /** Seeds the uniform initialisation of every table; random when absent. */
  seed?: number;
  optimizer?: EmbeddingOptimizerConfig | object;
  /**
   * What a table with a `vocab` does with an entity id its vocabulary lacks, per table name: 'skip'
   * (the default: the id is dropped from its bag, so a MEAN bag divides by the ids that remain and an
   * all-missing bag pools to zeros) or a row index in [0, num_embeddings) to look such ids up at.
   * Either way vocabStats() counts them as missing.
   */
  vocabOov?: Record<string, number | 'skip'>;
}

export interface ResolvedEbcOptions {
  tables: EmbeddingBagConfig[];
  isWeighted: boolean;
  device: string;
  seed: number;
  optimizer?: EmbeddingOptimizerConfig;
  /** Per table with a vocab: the OOV row, or -1 to skip missing ids. */
  vocabOov: Record<string, number>;
}

const OPTION_FIELDS = ['tables', 'isWeighted', 'device', 'seed', 'optimizer', 'vocabOov'];

function readOptions(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, OPTION_FIELDS);
  if (!o) return undefined;
  const { tables } = readTables(v, o, path, readEmbeddingBagConfig);
  const isWeighted = o.isWeighted ?? false;
  if (typeof isWeighted !== 'boolean') v.add(at(path, 'isWeighted'), 'must be a boolean');
  const device = o.device ?? 'cpu';
  if (typeof device !== 'string') v.add(at(path, 'device'), 'must be a string such as "cpu" or "cuda:0"');
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    v.add(at(path, 'seed'), 'must be a non-negative integer');
  }
  tables?.forEach((t, i) => {
    if (isWeighted === true && t.pooling === PoolingType.MEAN) {
      v.add(
        at(at(at(path, 'tables'), i), 'pooling'),
        'MEAN pooling cannot be used with per-value weights (isWeighted: true); TorchRec supports them only with SUM',
      );
    }
  });
  const vocabOov = readVocabOov(v, o.vocabOov, at(path, 'vocabOov'), tables);
  return {
    tables,
    isWeighted,
    device,
    seed,
    optimizer: readNested(v, o, 'optimizer', path, readEmbeddingOptimizerConfig),
    vocabOov,
  };
}

function readVocabOov(
  v: Validator,
  raw: unknown,
  path: string,
  tables: EmbeddingBagConfig[] | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tables ?? []) if (t.vocab !== undefined) out[t.name] = -1;
  if (raw === undefined) return out;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    v.add(path, "must be an object mapping table names to 'skip' or a row index");
    return out;
  }
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const table = tables?.find((t) => t.name === name);
    if (!table) {
      v.add(at(path, name), `no table named "${name}"`);
      continue;
    }
    if (table.vocab === undefined) {
      v.add(at(path, name), `table "${name}" has no vocab; an OOV row only applies to tables with one`);
      continue;
    }
    if (value === 'skip') continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= table.num_embeddings) {
      v.add(at(path, name), `must be 'skip' or a row index in [0, ${table.num_embeddings}), got ${String(value)}`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

export function resolveEbcOptions(raw: unknown): ResolvedEbcOptions {
  const fields = validateRoot('EmbeddingBagCollection options', raw, readOptions) as unknown as ResolvedEbcOptions;
  checkDevice(fields.device);
  return fields;
}

function checkDevice(device: string): void {
  if (device === 'cpu') return;
  if (/^cuda(:\d+)?$/.test(device)) {
    throw new TorchrecError(
      'ERR_DEVICE',
      `device "${device}": this build of torchrec-node has no CUDA support (it was built against a CPU-only ` +
        'libtorch). Rebuild against a CUDA libtorch (LIBTORCH or a CUDA PyTorch for python3) to use a GPU.',
    );
  }
  throw new TorchrecError('ERR_DEVICE', `device "${device}" is not known; use "cpu", "cuda" or "cuda:N"`);
}

export function nativeTableSpec(t: EmbeddingBagConfig): NativeTableSpec {
  return {
    name: t.name,
    numEmbeddings: t.num_embeddings,
    embeddingDim: t.embedding_dim,
    dataType: t.data_type,
    pooling: t.pooling ?? PoolingType.SUM,
    featureNames: t.feature_names && t.feature_names.length > 0 ? t.feature_names : [t.name],
    initMin: t.weight_init_min as number,
    initMax: t.weight_init_max as number,
  };
}

/** The hyper-parameters of a table's fused optimizer, as the core reads them (the rate comes per step). */
export interface NativeOptimizerSpec {
  algorithm: OptimizerAlgorithm;
  eps: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  weightDecayMode: WeightDecayMode;
}

/** A table plus its optimizer; the constructor of NativeEmbeddingBagCollection reads `optimizer`. */
export interface NativeTrainableTableSpec extends NativeTableSpec {
  optimizer: NativeOptimizerSpec | null;
}

/** How one table is trained: the optimizer and where the learning rate of each step comes from. */
export interface TableTraining {
  spec: NativeOptimizerSpec;
  /** The rate when there is no schedule. */
  lr: number;
  schedule?: LearningRate;
}

// FBGEMM's defaults for the fields an algorithm does not have (they are then unused by its rule).
const UNUSED = { eps: 1e-8, beta1: 0.9, beta2: 0.999, weightDecay: 0, weightDecayMode: 'none' as WeightDecayMode };

function fromOptimizerConfig(cfg: OptimizerConfig): TableTraining {
  const algorithm = optimizerAlgorithm(cfg);
  const schedule = cfg.learning_rate;
  switch (algorithm) {
    case 'sgd':
      return { spec: { ...UNUSED, algorithm }, lr: cfg.sgd!.lr, schedule };
    case 'adagrad':
      return { spec: { ...UNUSED, algorithm, eps: cfg.adagrad!.eps }, lr: cfg.adagrad!.lr, schedule };
    case 'rowwise_adagrad': {
      const a = cfg.rowwise_adagrad!;
      const spec = {
        ...UNUSED,
        algorithm,
        eps: a.eps,
        weightDecay: a.weight_decay,
        weightDecayMode: a.weight_decay_mode,
      };
      return { spec, lr: a.lr, schedule };
    }
    default: {
      // adam, partial_rowwise_adam and lamb share their fields.
      const a = cfg[algorithm]!;
      const spec = {
        ...UNUSED,
        algorithm,
        eps: a.eps,
        beta1: a.betas[0],
        beta2: a.betas[1],
        weightDecay: a.weight_decay,
      };
      return { spec, lr: a.lr, schedule };
    }
  }
}

/**
 * A table's own optimizer wins; a table without one is trained by the collection's
 * EmbeddingOptimizerConfig, which is EXACT_SGD at init_learning_rate (or its schedule), as in
 * the-algorithm-ml. null: the table cannot be trained.
 */
export function tableTraining(t: EmbeddingBagConfig, collection?: EmbeddingOptimizerConfig): TableTraining | null {
  if (t.optimizer !== undefined) return fromOptimizerConfig(t.optimizer);
  if (collection === undefined) return null;
  return {
    spec: { ...UNUSED, algorithm: 'sgd' },
    lr: collection.init_learning_rate,
    schedule: collection.learning_rate,
  };
}

export function nativeTrainableTableSpec(
  t: EmbeddingBagConfig,
  training: TableTraining | null,
): NativeTrainableTableSpec {
  return { ...nativeTableSpec(t), optimizer: training ? training.spec : null };
}
