/** The options of `new LargeEmbeddings(config, o)`. */
import type { EmbeddingBagCollectionOptions } from '../ebc_options';
import { readPassThrough, validateRoot } from '../config/validate';

export interface LargeEmbeddingsOptions {
  /** As EmbeddingBagCollection's `device`. */
  device?: string;
  /** As EmbeddingBagCollection's `seed`. */
  seed?: number;
}

const FIELDS = ['device', 'seed'] as const;

/**
 * Rejects what is not an options object and every unknown key (with a "did you mean" hint). The
 * values themselves are the collection's options and checked there, in one place for both modules.
 */
export function validateLargeEmbeddingsOptions(raw: unknown): Pick<EmbeddingBagCollectionOptions, 'device' | 'seed'> {
  const o = validateRoot('LargeEmbeddings options', raw, (v, x, path) => readPassThrough(v, x, path, FIELDS));
  // Unchecked on purpose: resolveEbcOptions owns device and seed, and reports them by the same names.
  return o as Pick<EmbeddingBagCollectionOptions, 'device' | 'seed'>;
}
