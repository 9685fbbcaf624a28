/** The options of `new LargeEmbeddings(config, o)`. */
import type { EmbeddingBagCollectionOptions } from '../ebc_options';
import { readPassThrough, validateRoot } from '../config/validate';

export interface LargeEmbeddingsOptions {
  /** As EmbeddingBagCollection's `device`. */
  device?: string;
  /** As EmbeddingBagCollection's `seed`. */
  seed?: number;
  /** As EmbeddingBagCollection's `processGroup`: shard the tables across its ranks. */
  processGroup?: EmbeddingBagCollectionOptions['processGroup'];
  /** As EmbeddingBagCollection's `plan`. */
  plan?: EmbeddingBagCollectionOptions['plan'];
  /** As EmbeddingBagCollection's `gradientDivision`. */
  gradientDivision?: boolean;
}

const FIELDS = ['device', 'seed', 'processGroup', 'plan', 'gradientDivision'] as const;
type PassedOn = Pick<EmbeddingBagCollectionOptions, (typeof FIELDS)[number]>;

/**
 * Rejects what is not an options object and every unknown key (with a "did you mean" hint). The
 * values themselves are the collection's options and checked there, in one place for both modules.
 */
export function validateLargeEmbeddingsOptions(raw: unknown): PassedOn {
  const o = validateRoot('LargeEmbeddings options', raw, (v, x, path) => readPassThrough(v, x, path, FIELDS));
  // Unchecked on purpose: resolveEbcOptions owns these values, and reports them by the same names.
  return o as PassedOn;
}
