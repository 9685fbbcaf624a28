/** The options of the persistence calls: saveSnapshot's `extra` and loadStateDict's `o`. */
import { Validator, at, describe, readBoolean, readNumber, readObject, validateRoot } from '../config/validate';

export interface SnapshotExtra {
  /** Default: the module's step. */
  step?: number;
  /** Seconds of training so far (the-algorithm-ml's walltime); default 0. */
  walltime?: number;
}

export interface LoadStateDictOptions {
  /** Stripped from the file's keys, e.g. `model.embeddings.` (then keys must match exactly). */
  prefix?: string;
  /** Default true: every table must be found, and (with `prefix`) every key under it must be a table. */
  strict?: boolean;
  /** Map tables whose stored bytes can be used in place instead of copying them (DESIGN "Serving"). */
  mmap?: boolean;
}

export interface RestoreSnapshotOptions {
  /** Map tables whose stored bytes can be used in place instead of copying them (DESIGN "Serving"). */
  mmap?: boolean;
}

/**
 * saveSnapshot's extra with its defaults; ERR_INVALID_ARGUMENT (saveSnapshot's code for its
 * arguments) listing every bad field. Without a step, the snapshot takes the module's step at its
 * place in call order.
 */
export function validateSnapshotExtra(raw: unknown): SnapshotExtra & { walltime: number } {
  const read = (v: Validator, x: unknown, path: string): (SnapshotExtra & { walltime: number }) | undefined => {
    const o = readObject(v, x, path, ['step', 'walltime']);
    if (!o) return undefined;
    const step = readNumber(v, o, 'step', path, 'nonNegativeInt');
    const walltime = readNumber(v, o, 'walltime', path, 'finite') ?? 0;
    return { step, walltime };
  };
  return validateRoot('saveSnapshot extra', raw, read, 'ERR_INVALID_ARGUMENT');
}

export interface ResolvedLoadStateDictOptions {
  prefix?: string;
  strict: boolean;
  mmap: boolean;
}

function readLoadStateDictOptions(v: Validator, raw: unknown, path: string): ResolvedLoadStateDictOptions | undefined {
  const o = readObject(v, raw, path, ['prefix', 'strict', 'mmap']);
  if (!o) return undefined;
  // The empty prefix is meaningful (keys must then match exactly), so any string is a prefix.
  const prefix = o.prefix ?? undefined;
  if (prefix !== undefined && typeof prefix !== 'string') {
    v.add(at(path, 'prefix'), `must be a string such as "model.embeddings.", got ${describe(prefix)}`);
  }
  return {
    prefix: typeof prefix === 'string' ? prefix : undefined,
    strict: readBoolean(v, o, 'strict', path) ?? true,
    mmap: readBoolean(v, o, 'mmap', path) ?? false,
  };
}

/** loadStateDict's options with defaults; ERR_INVALID_ARGUMENT listing every bad field. */
export function validateLoadStateDictOptions(raw: unknown): ResolvedLoadStateDictOptions {
  return validateRoot('loadStateDict options', raw, readLoadStateDictOptions, 'ERR_INVALID_ARGUMENT');
}

/** restoreSnapshot's options with defaults; ERR_INVALID_ARGUMENT listing every bad field. */
export function validateRestoreSnapshotOptions(raw: unknown): Required<RestoreSnapshotOptions> {
  const read = (v: Validator, x: unknown, path: string): Required<RestoreSnapshotOptions> | undefined => {
    const o = readObject(v, x, path, ['mmap']);
    if (!o) return undefined;
    return { mmap: readBoolean(v, o, 'mmap', path) ?? false };
  };
  return validateRoot('restoreSnapshot options', raw ?? {}, read, 'ERR_INVALID_ARGUMENT');
}
