/**
 * Embedding table configs: the-algorithm-ml's common/modules/embedding/config.py, plus the TorchRec
 * EmbeddingBagConfig fields (feature_names, pooling, weight_init_*) that the EBC needs, with
 * TorchRec's defaults filled in at construction.
 */
import { DataType, PoolingType } from '../enums';
import { checkQuantizedTable, storedBytesPerValue } from './quantized';
import { hint } from './suggest';
import {
  Fields,
  Validator,
  at,
  checkString,
  checkUnique,
  instanceReader,
  isPlainObject,
  readArray,
  readChoice,
  readList,
  readNested,
  readNumber,
  readObject,
  readString,
  validateRoot,
} from './validate';
import { ManagedCollisionConfig, checkManagedCompatible, readManagedCollision } from './managed_collision';
import {
  EmbeddingOptimizerConfig,
  OptimizerConfig,
  readEmbeddingOptimizerConfig,
  readOptimizerConfig,
} from './optimizer';

export class EmbeddingSnapshot {
  declare emb_name: string;
  declare embedding_snapshot_uri: string;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('EmbeddingSnapshot', raw, readSnapshotFields));
  }
}

function readSnapshotFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['emb_name', 'embedding_snapshot_uri']);
  if (!o) return undefined;
  return {
    emb_name: readString(v, o, 'emb_name', path, true),
    embedding_snapshot_uri: readString(v, o, 'embedding_snapshot_uri', path, true),
  };
}

const readSnapshot = instanceReader(EmbeddingSnapshot, readSnapshotFields);

// TorchRec JSON spells these 'FP32' / 'SUM', the-algorithm-ml YAML 'fp32'; both are accepted.
const DATA_TYPES: Record<string, DataType> = {
  fp32: DataType.FP32,
  fp16: DataType.FP16,
  int8: DataType.INT8,
  int4: DataType.INT4,
  int2: DataType.INT2,
};
const POOLINGS: Record<string, PoolingType> = { sum: PoolingType.SUM, mean: PoolingType.MEAN };

/**
 * The most bytes a table may have: byte counts stay exact in a JS number (2^53, 8 PiB, beyond any
 * machine). A config past it once wrapped the native byte count (2^40+1 rows x 2^22 dims) into a
 * 16 MiB mapping that initialisation overran; past it the config is refused here, by name.
 */
export const MAX_TABLE_BYTES = 2 ** 53;

const BAG_FIELDS = [
  'name',
  'num_embeddings',
  'embedding_dim',
  'data_type',
  'optimizer',
  'pretrained',
  'vocab',
  'feature_names',
  'pooling',
  'weight_init_min',
  'weight_init_max',
  'managed_collision',
];

/** One table. After construction feature_names, pooling, data_type and weight_init_* are always set. */
export class EmbeddingBagConfig {
  declare name: string;
  declare num_embeddings: number;
  declare embedding_dim: number;
  declare data_type: DataType;
  declare optimizer?: OptimizerConfig;
  declare pretrained?: EmbeddingSnapshot;
  declare vocab?: string;
  declare feature_names?: string[];
  declare pooling?: PoolingType;
  declare weight_init_min?: number;
  declare weight_init_max?: number;
  declare managed_collision?: ManagedCollisionConfig;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('EmbeddingBagConfig', raw, readBagFields));
  }
}

function readBagFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, BAG_FIELDS);
  if (!o) return undefined;
  const name = readString(v, o, 'name', path, true);
  const num_embeddings = readNumber(v, o, 'num_embeddings', path, 'positiveInt', true);
  const embedding_dim = readNumber(v, o, 'embedding_dim', path, 'positiveInt', true);
  const data_type = readChoice(v, o, 'data_type', path, DATA_TYPES) ?? DataType.FP32;
  if (num_embeddings !== undefined && embedding_dim !== undefined) {
    // Values first: their product may already be past 2^53 and inexact, but then it is past the limit too.
    const bytes = num_embeddings * embedding_dim * storedBytesPerValue(data_type);
    if (bytes > MAX_TABLE_BYTES) {
      v.add(
        at(path, 'num_embeddings'),
        `${name === undefined ? 'this table' : `table ${JSON.stringify(name)}`}: cannot allocate ` +
          `${num_embeddings} x ${embedding_dim} ${data_type} values (about ${bytes.toPrecision(3)} bytes), ` +
          `more than the ${MAX_TABLE_BYTES} bytes a table may have`,
      );
    }
  }
  const out: Fields = {
    name,
    num_embeddings,
    embedding_dim,
    data_type,
    optimizer: readNested(v, o, 'optimizer', path, readOptimizerConfig),
    pretrained: readNested(v, o, 'pretrained', path, readSnapshot),
    vocab: readString(v, o, 'vocab', path),
    pooling: readChoice(v, o, 'pooling', path, POOLINGS) ?? PoolingType.SUM,
  };
  if (o.managed_collision !== undefined) {
    out.managed_collision = readManagedCollision(v, o.managed_collision, at(path, 'managed_collision'), num_embeddings);
    checkManagedCompatible(v, o, path);
  }

  const featureNames = readList(v, o, 'feature_names', path, checkString);
  if (featureNames) checkUnique(v, featureNames, (i) => at(at(path, 'feature_names'), i), 'feature name');
  // TorchRec's EBC turns an empty list into [name]; storing the effective list spares every reader.
  if (featureNames && featureNames.length > 0) out.feature_names = [...featureNames];
  else if (name !== undefined) out.feature_names = [name];

  // TorchRec's BaseEmbeddingConfig.__post_init__: uniform(-sqrt(1/N), sqrt(1/N)).
  const bound = num_embeddings === undefined ? undefined : Math.sqrt(1 / num_embeddings);
  const min = readNumber(v, o, 'weight_init_min', path, 'finite') ?? (bound === undefined ? undefined : -bound);
  const max = readNumber(v, o, 'weight_init_max', path, 'finite') ?? bound;
  if (min !== undefined && max !== undefined && min > max) {
    v.add(at(path, 'weight_init_min'), `must not exceed weight_init_max (${min} > ${max})`);
  }
  // fp16 tables would silently start with inf rows beyond fp16's largest finite value.
  const FP16_MAX = 65504;
  if (out.data_type === DataType.FP16) {
    for (const [key, x] of [
      ['weight_init_min', min],
      ['weight_init_max', max],
    ] as const) {
      if (x !== undefined && Math.abs(x) > FP16_MAX)
        v.add(at(path, key), `must be within ±${FP16_MAX} for an fp16 table, got ${x}`);
    }
  }
  out.weight_init_min = min;
  out.weight_init_max = max;
  checkQuantizedTable(v, path, out);
  return out;
}

export const readEmbeddingBagConfig = instanceReader(EmbeddingBagConfig, readBagFields);

/** The table's name as written, for cross-checks that must run even when the table has other problems. */
export function rawTableName(raw: unknown): string | undefined {
  if (!isPlainObject(raw) || !Object.prototype.hasOwnProperty.call(raw, 'name')) return undefined;
  const name = raw.name;
  return typeof name === 'string' && name.trim() !== '' ? name : undefined;
}

/** Reads `tables`: a non-empty list, each entry read by `readTable`, names unique. */
export function readTables<T>(
  v: Validator,
  o: Fields,
  path: string,
  readTable: (v: Validator, raw: unknown, path: string) => T | undefined,
): { tables: T[] | undefined; names: (string | undefined)[] } {
  const arr = readArray(v, o, 'tables', path, true);
  if (arr === undefined) return { tables: undefined, names: [] };
  const tablesPath = at(path, 'tables');
  if (arr.length === 0) v.add(tablesPath, 'must contain at least one table');
  const before = v.count;
  const tables = arr.map((t, i) => readTable(v, t, at(tablesPath, i)));
  const names = arr.map(rawTableName);
  checkUnique(v, names, (i) => at(at(tablesPath, i), 'name'), 'table name');
  return { tables: v.count === before ? (tables as T[]) : undefined, names };
}

/** The tables gathered into one EmbeddingBagCollection (the-algorithm-ml's LargeEmbeddings). */
export class LargeEmbeddingsConfig {
  declare tables: EmbeddingBagConfig[];
  declare tables_to_log?: string[];
  declare optimizer?: EmbeddingOptimizerConfig;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('LargeEmbeddingsConfig', raw, readLargeFields));
  }
}

function readLargeFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['tables', 'tables_to_log', 'optimizer']);
  if (!o) return undefined;
  const { tables, names } = readTables(v, o, path, readEmbeddingBagConfig);
  const toLog = readList(v, o, 'tables_to_log', path, checkString);
  if (toLog) {
    const known = names.filter((n): n is string => n !== undefined);
    toLog.forEach((n, i) => {
      if (!known.includes(n))
        v.add(at(at(path, 'tables_to_log'), i), `no table named ${JSON.stringify(n)}${hint(n, known)}`);
    });
  }
  return {
    tables,
    tables_to_log: toLog ? [...toLog] : undefined,
    optimizer: readNested(v, o, 'optimizer', path, readEmbeddingOptimizerConfig),
  };
}
