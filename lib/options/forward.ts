/**
 * forward's and forwardSync's options. `out` is a Float32Array the call pools into and returns as the
 * result's values, instead of allocating a new one: a serving loop that keeps one buffer per call in
 * flight allocates nothing per call. On a small machine a new typed array costs more than an S-sized
 * lookup (bench/results/fixed-cost.md).
 *
 * This file owns the rules for `out`: its type and length, no memory shared with the batch it pools,
 * and no two calls writing the same memory at once.
 */
import { types } from 'util';
import { Validator, at, describe, isPlainObject, readObject, validateRoot } from '../config/validate';
import { TorchrecError } from '../errors';
import type { NativeKjtArgs } from '../native';

export interface ForwardOptions {
  /**
   * Pooled into and returned as the KeyedTensor's values: exactly batch size × the output width
   * float32 values, sharing no memory with the KJT's arrays. Its contents are the result once the
   * call returns (forwardSync) or its Promise resolves (forward); until then it must not be passed to
   * another call (ERR_INVALID_ARGUMENT) nor relied on.
   */
  out?: Float32Array;
}

function readOutField(v: Validator, raw: unknown, path: string): { out?: Float32Array } | undefined {
  const o = readObject(v, raw, path, ['out']);
  if (!o) return undefined;
  if (o.out === undefined || o.out === null) return {};
  if (!types.isFloat32Array(o.out)) {
    v.add(at(path, 'out'), `must be a Float32Array, got ${describe(o.out)}`);
    return {};
  }
  return { out: o.out };
}

/** options.out: a per-call path, so `{ out }` itself skips the validator's allocations. */
function readOut(options: unknown, method: string): Float32Array | undefined {
  if (isPlainObject(options)) {
    const keys = Object.keys(options);
    const out = options.out;
    if (keys.length === 1 && keys[0] === 'out' && types.isFloat32Array(out)) return out;
  }
  return validateRoot(`${method} options`, options, readOutField, 'ERR_INVALID_ARGUMENT').out;
}

/** The byte ranges of the `out` arrays of forwards still in flight, per buffer. */
const inFlight = new WeakMap<ArrayBufferLike, [number, number][]>();

function byteRange(a: ArrayBufferView): [number, number] {
  return [a.byteOffset, a.byteOffset + a.byteLength];
}

function overlap(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[1] && b[0] < a[1] && a[0] < a[1] && b[0] < b[1];
}

/**
 * The `out` of `options` (undefined when there is none), checked against the batch `args` whose
 * result is `[batch][width]`: ERR_INVALID_ARGUMENT for a bad options object, an array that shares
 * memory with the batch or with the `out` of a call still in flight; ERR_SHAPE for the wrong length.
 */
export function forwardOut(
  options: unknown,
  args: NativeKjtArgs,
  width: number,
  method: string,
): Float32Array | undefined {
  if (options === undefined) return undefined;
  const out = readOut(options, method);
  if (!out) return undefined;
  const batch = args[5];
  if (out.length !== batch * width) {
    throw new TorchrecError(
      'ERR_SHAPE',
      `${method}: options.out has ${out.length} float32 values but the result is [${batch}][${width}] ` +
        `(${batch * width} values)`,
    );
  }
  const range = byteRange(out);
  const parts: [string, ArrayBufferView | null][] = [
    ['values', args[1]],
    ['lengths', args[2]],
    ['offsets', args[3]],
    ['weights', args[4]],
  ];
  for (const [name, part] of parts) {
    if (part && part.buffer === out.buffer && overlap(range, byteRange(part))) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `${method}: options.out shares memory with the KJT's ${name}, which the pooling reads while it writes ` +
          'the result; pass an array of its own',
      );
    }
  }
  if ((inFlight.get(out.buffer) ?? []).some((r) => overlap(r, range))) {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `${method}: options.out shares memory with the out of a forward still in flight; await that one first, ` +
        'or give each call in flight its own array',
    );
  }
  return out;
}

/** Marks `out` as written by a forward until `pending` settles; returns `pending`. */
export function holdOut<T>(out: Float32Array | undefined, pending: Promise<T>): Promise<T> {
  if (!out) return pending;
  const range = byteRange(out);
  const ranges = inFlight.get(out.buffer) ?? [];
  ranges.push(range);
  inFlight.set(out.buffer, ranges);
  const release = (): void => {
    const i = ranges.indexOf(range);
    if (i >= 0) ranges.splice(i, 1);
    if (ranges.length === 0) inFlight.delete(out.buffer);
  };
  return pending.then(
    (x) => {
      release();
      return x;
    },
    (e: unknown) => {
      release();
      throw e;
    },
  );
}
