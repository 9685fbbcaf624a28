/** The options of tableNorms (EmbeddingBagCollection, LargeEmbeddings): `{ sampleRows, seed }`. */
import { Validator, readNumber, readObject, validateRoot } from '../config/validate';

/** the-algorithm-ml's log_ebc_norms sample_size: at most this many rows per table. */
export const TABLE_NORM_SAMPLE_ROWS = 4_000_000;

export interface TableNormsOptions {
  /** Most rows read per table (default 4,000,000); larger tables use a uniform sample of distinct rows. */
  sampleRows?: number;
  /** Seeds the sample (random when absent); unused for tables with at most sampleRows rows. */
  seed?: number;
}

export interface ResolvedTableNormsOptions {
  sampleRows: number;
  seed: number;
}

function readTableNormsOptions(v: Validator, raw: unknown, path: string): ResolvedTableNormsOptions | undefined {
  const o = readObject(v, raw, path, ['sampleRows', 'seed']);
  if (!o) return undefined;
  const sampleRows = readNumber(v, o, 'sampleRows', path, 'positiveInt') ?? TABLE_NORM_SAMPLE_ROWS;
  const seed = readNumber(v, o, 'seed', path, 'nonNegativeInt') ?? Math.floor(Math.random() * 2 ** 31);
  return { sampleRows, seed };
}

/** Defaults filled in; ERR_INVALID_ARGUMENT (tableNorms' code for its arguments) listing every bad field. */
export function validateTableNormsOptions(raw: unknown): ResolvedTableNormsOptions {
  return validateRoot('tableNorms options', raw, readTableNormsOptions, 'ERR_INVALID_ARGUMENT');
}
