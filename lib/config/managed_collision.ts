/**
 * EmbeddingBagConfig.managed_collision: the table takes raw 64-bit ids of any value and maps them to
 * rows itself (TorchRec's ManagedCollisionModule / MCH, on CPU; rules in DESIGN.md "Managed ids").
 * An extension of the-algorithm-ml's config, validated like the rest of it.
 */
import { Fields, Validator, at, readChoice, readNumber, readObject } from './validate';

export type EvictionPolicy = 'lfu' | 'lru' | 'distance_lfu';

export interface ManagedCollisionConfig {
  /** How residents and waiting ids are ranked at a pass (default 'lfu'). */
  eviction_policy: EvictionPolicy;
  /** Completed steps between eviction passes (default 100): a pass sorts every resident. */
  eviction_interval: number;
  /** distance_lfu's exponent: score = count / (step - last + 1)^decay_exponent (default 1, as TorchRec). */
  decay_exponent: number;
  /**
   * How many ids may wait for a row between passes (default: num_embeddings). When the set is full,
   * a new id is not recorded (it still reads the default row, and counts in defaultRowHits and
   * waitingDropped); ids already waiting keep counting.
   */
  max_waiting_ids: number;
}

const POLICIES: Record<string, EvictionPolicy> = { lfu: 'lfu', lru: 'lru', distance_lfu: 'distance_lfu' };
const FIELDS = ['eviction_policy', 'eviction_interval', 'decay_exponent', 'max_waiting_ids'];

export const DEFAULT_EVICTION_INTERVAL = 100;

/** Reads `managed_collision` of a table with `numEmbeddings` rows, defaults filled. */
export function readManagedCollision(
  v: Validator,
  raw: unknown,
  path: string,
  numEmbeddings: number | undefined,
): ManagedCollisionConfig | undefined {
  const o: Fields | undefined = readObject(v, raw, path, FIELDS);
  if (!o) return undefined;
  if (numEmbeddings !== undefined && numEmbeddings < 2) {
    v.add(path, `needs num_embeddings >= 2 (rows for ids plus the default row, the last), got ${numEmbeddings}`);
  }
  return {
    eviction_policy: readChoice(v, o, 'eviction_policy', path, POLICIES) ?? 'lfu',
    eviction_interval: readNumber(v, o, 'eviction_interval', path, 'positiveInt') ?? DEFAULT_EVICTION_INTERVAL,
    decay_exponent: readNumber(v, o, 'decay_exponent', path, 'nonNegative') ?? 1,
    max_waiting_ids: readNumber(v, o, 'max_waiting_ids', path, 'nonNegativeInt') ?? numEmbeddings ?? 0,
  };
}

/** The core's form of it (lib/native.ts NativeTableSpec.managedCollision). */
export function nativeManagedCollision(c: ManagedCollisionConfig): {
  policy: EvictionPolicy;
  interval: number;
  decayExponent: number;
  maxWaiting: number;
} {
  return {
    policy: c.eviction_policy,
    interval: c.eviction_interval,
    decayExponent: c.decay_exponent,
    maxWaiting: c.max_waiting_ids,
  };
}

/** A managed table takes raw ids itself: a vocabulary on top of it has no meaning. */
export function checkManagedCompatible(v: Validator, o: Fields, path: string): void {
  if (o.managed_collision !== undefined && o.vocab !== undefined) {
    v.add(at(path, 'vocab'), 'cannot be combined with managed_collision (the table maps raw ids itself)');
  }
}
