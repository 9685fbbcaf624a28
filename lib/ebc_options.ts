/**
 * Validation of `new EmbeddingBagCollection({...})` options, before any native call, with field paths
 * in the messages (`tables[1].embedding_dim: ...`).
 */
import { EmbeddingBagConfig, readEmbeddingBagConfig, readTables } from './config/embedding';
import { EmbeddingOptimizerConfig, readEmbeddingOptimizerConfig } from './config/optimizer';
import { at, readNested, readObject, validateRoot, Validator } from './config/validate';
import { PoolingType } from './enums';
import { isQuantized } from './config/quantized';
import { ProcessGroup } from './distributed/process_group';
import type { ShardingPlan } from './distributed/plan';

export interface EmbeddingBagCollectionOptions {
  tables: (EmbeddingBagConfig | object)[];
  isWeighted?: boolean;
  /** 'cpu' (default), or 'cuda' / 'cuda:N' on a CUDA build (the core answers ERR_DEVICE otherwise). */
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
  /** Shards the tables across this group's ranks; every rank builds the same collection (DESIGN.md). */
  processGroup?: ProcessGroup;
  /** Per table: its sharding type (and ranks); tables it leaves out are placed by planSharding. */
  plan?: ShardingPlan;
  /** Default true (TorchRec's): backward divides gradOutput by the world size. */
  gradientDivision?: boolean;
  /**
   * Default true, as FBGEMM: the fused optimizers write fp16 rows with stochastic rounding (random bits
   * from the collection's seed, the step, table, row and column: same seed and call order, same bits,
   * whatever the thread count). false: round to nearest.
   */
  stochasticRounding?: boolean;
  /**
   * Default false: every `forward` runs off the JS thread (DESIGN.md), on libuv's pool, which costs a
   * thread hop (~20-40 µs of latency per call). true: a batch of at most ~32k multiply-adds (S: 512 ids
   * of dim 16) is pooled on the calling thread instead, in about a microsecond, when no backward or
   * other write is queued before it; the promise, call order and errors are as before.
   */
  inlineSmallForwards?: boolean;
}

export interface ResolvedEbcOptions {
  tables: EmbeddingBagConfig[];
  isWeighted: boolean;
  device: string;
  seed: number;
  optimizer?: EmbeddingOptimizerConfig;
  /** Per table with a vocab: the OOV row, or -1 to skip missing ids. */
  vocabOov: Record<string, number>;
  processGroup?: ProcessGroup;
  plan?: ShardingPlan;
  gradientDivision: boolean;
  stochasticRounding: boolean;
  inlineSmallForwards: boolean;
}

const OPTION_FIELDS = [
  'tables',
  'isWeighted',
  'device',
  'seed',
  'optimizer',
  'vocabOov',
  'processGroup',
  'plan',
  'gradientDivision',
  'stochasticRounding',
  'inlineSmallForwards',
];

// Returns undefined or a value with unchecked fields only when `v` holds issues, and then
// validateRoot throws instead of returning it.
function readOptions(v: Validator, raw: unknown, path: string): ResolvedEbcOptions | undefined {
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
  const processGroup = o.processGroup;
  if (processGroup !== undefined && !(processGroup instanceof ProcessGroup)) {
    v.add(at(path, 'processGroup'), 'must be a ProcessGroup (from ProcessGroup.init)');
  }
  if (o.plan !== undefined && processGroup === undefined) {
    v.add(at(path, 'plan'), 'a sharding plan needs a processGroup');
  }
  const gradientDivision = o.gradientDivision ?? true;
  if (typeof gradientDivision !== 'boolean') v.add(at(path, 'gradientDivision'), 'must be a boolean');
  const stochasticRounding = o.stochasticRounding ?? true;
  if (typeof stochasticRounding !== 'boolean') v.add(at(path, 'stochasticRounding'), 'must be a boolean');
  const inlineSmallForwards = o.inlineSmallForwards ?? false;
  if (typeof inlineSmallForwards !== 'boolean') v.add(at(path, 'inlineSmallForwards'), 'must be a boolean');
  if (processGroup !== undefined) {
    tables?.forEach((t, i) => {
      if (isQuantized(t.data_type)) {
        v.add(at(at(at(path, 'tables'), i), 'data_type'), `${t.data_type} tables cannot be sharded yet`);
      }
      if (t.pretrained !== undefined) {
        v.add(at(at(at(path, 'tables'), i), 'pretrained'), 'is not supported on a sharded collection yet');
      }
    });
  }
  return {
    processGroup: processGroup as ProcessGroup | undefined,
    plan: o.plan as ShardingPlan | undefined,
    gradientDivision: gradientDivision as boolean,
    stochasticRounding: stochasticRounding as boolean,
    inlineSmallForwards: inlineSmallForwards as boolean,
    tables: tables ?? [],
    isWeighted: isWeighted as boolean,
    device: device as string,
    seed: seed as number,
    optimizer: readNested(v, o, 'optimizer', path, readEmbeddingOptimizerConfig) as
      EmbeddingOptimizerConfig | undefined,
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
  return validateRoot('EmbeddingBagCollection options', raw, readOptions);
}
