/** The options of `new SmallEmbeddings(config, o)`. */
import { EmbeddingOptimizerConfig, OptimizerConfig, readOptimizerConfig } from '../config/optimizer';
import { Validator, at, describe, isPlainObject, readObject, validateRoot } from '../config/validate';

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

export interface ResolvedSmallEmbeddingsOptions {
  /** Unchecked here: the collection's `seed`, checked there. */
  seed?: number;
  /** An EmbeddingOptimizerConfig for the collection (checked there): every table trains by SGD. */
  collection?: object;
  /** An OptimizerConfig given to each table. */
  perTable?: OptimizerConfig;
}

function isEmbeddingOptimizer(o: object): boolean {
  return o instanceof EmbeddingOptimizerConfig || (!(o instanceof OptimizerConfig) && 'init_learning_rate' in o);
}

function readSmallEmbeddingsOptions(
  v: Validator,
  raw: unknown,
  path: string,
): ResolvedSmallEmbeddingsOptions | undefined {
  const o = readObject(v, raw, path, ['seed', 'optimizer']);
  if (!o) return undefined;
  const seed = o.seed as number | undefined; // the collection's option, checked there
  const opt = o.optimizer;
  if (opt === undefined || opt === null) return { seed };
  if (!isPlainObject(opt)) {
    v.add(at(path, 'optimizer'), `must be an OptimizerConfig or an EmbeddingOptimizerConfig, got ${describe(opt)}`);
    return undefined;
  }
  if (isEmbeddingOptimizer(opt)) return { seed, collection: opt };
  return { seed, perTable: readOptimizerConfig(v, opt, at(path, 'optimizer')) };
}

/**
 * Rejects unknown keys and a malformed per-table OptimizerConfig (read by OptimizerConfig's own
 * reader); `seed` and an EmbeddingOptimizerConfig are the collection's options and checked there.
 */
export function validateSmallEmbeddingsOptions(raw: unknown): ResolvedSmallEmbeddingsOptions {
  return validateRoot('SmallEmbeddings options', raw, readSmallEmbeddingsOptions);
}
