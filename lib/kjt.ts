/**
 * TorchRec's KeyedJaggedTensor: jagged id lists for several features, key-major
 * (`lengths[k * B + b]` is the bag length of key k, sample b). It keeps the caller's typed arrays by
 * reference; every native call copies them, so mutating them after a call cannot change its result.
 */
import { types } from 'util';
import { TorchrecError } from './errors';
import type { NativeIdArray, NativeKjtArgs } from './native';

export type IdInput = BigInt64Array | Int32Array | readonly number[];
export type WeightInput = Float32Array | readonly number[];

export interface KjtFromLengths {
  keys: string[];
  values: IdInput;
  lengths: IdInput;
  weights?: WeightInput | null;
  /** Batch size; needed only when `keys` is empty. */
  stride?: number;
}

export interface KjtFromOffsets {
  keys: string[];
  values: IdInput;
  offsets: IdInput;
  weights?: WeightInput | null;
  stride?: number;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function kjtError(message: string): TorchrecError {
  return new TorchrecError('ERR_INVALID_KJT', message);
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  // The built-in tag, not x.constructor (a caller's object may have any constructor, or none).
  if (ArrayBuffer.isView(x)) return Object.prototype.toString.call(x).slice(8, -1);
  if (Array.isArray(x)) return 'an Array';
  return typeof x;
}

/**
 * The key list of the last KJT built, frozen and shared by every later KJT with the same keys (its
 * keyList is private and never mutated), so the addon knows it by identity and converts no string
 * per call (native/binding/kjt_inputs.cc).
 */
let lastKeys: readonly string[] = Object.freeze([]);

function internKeys(keys: string[]): string[] {
  const last = lastKeys;
  if (keys.length === last.length) {
    let same = true;
    for (let i = 0; i < keys.length && same; i++) same = keys[i] === last[i];
    if (same) return last as string[];
  }
  lastKeys = Object.freeze(keys);
  return keys;
}

function readKeys(keys: unknown): string[] {
  if (!Array.isArray(keys)) throw kjtError(`keys must be an array of strings, got ${typeName(keys)}`);
  const seen = new Set<string>();
  // An index loop, not forEach: forEach skips the holes of a sparse array ([, 'a']).
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i];
    if (typeof key !== 'string' || key === '')
      throw kjtError(`keys[${i}] must be a non-empty string, got ${typeName(key)}`);
    if (seen.has(key)) throw kjtError(`key "${key}" appears twice in keys`);
    seen.add(key);
  }
  return internKeys([...keys] as string[]);
}

/**
 * Typed-array checks that hold across realms (a worker's message, a `vm` context, jest's sandbox),
 * where `instanceof` would reject an Int32Array and then report "got Int32Array".
 */
function isIdArray(x: unknown): x is NativeIdArray {
  return types.isInt32Array(x) || types.isBigInt64Array(x);
}

/** Int32Array and BigInt64Array pass through; number[] becomes Int32Array (or BigInt64Array if needed). */
function readIds(x: unknown, name: string): NativeIdArray {
  if (isIdArray(x)) return x;
  if (Array.isArray(x)) {
    let wide = false;
    // An index loop, not forEach: forEach skips holes, which Int32Array.from would turn into id 0.
    for (let i = 0; i < x.length; i++) {
      const v: unknown = x[i];
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw kjtError(`${name}[${i}] must be an integer, got ${typeof v === 'number' ? v : typeName(v)}`);
      }
      if (v < INT32_MIN || v > INT32_MAX) wide = true;
    }
    return wide ? BigInt64Array.from(x as number[], (v) => BigInt(v)) : Int32Array.from(x as number[]);
  }
  throw new TorchrecError(
    'ERR_DTYPE',
    `${name} must be an Int32Array, a BigInt64Array or an array of integers, got ${typeName(x)}`,
  );
}

function readWeights(x: unknown, count: number): Float32Array | null {
  if (x === undefined || x === null) return null;
  let w: Float32Array;
  if (types.isFloat32Array(x)) {
    w = x;
  } else if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      const v: unknown = x[i];
      if (typeof v !== 'number')
        throw new TorchrecError('ERR_DTYPE', `weights[${i}] must be a number, got ${typeName(v)}`);
    }
    w = Float32Array.from(x as number[]);
  } else {
    throw new TorchrecError('ERR_DTYPE', `weights must be a Float32Array or an array of numbers, got ${typeName(x)}`);
  }
  if (w.length !== count) {
    throw new TorchrecError(
      'ERR_SHAPE',
      `weights has ${w.length} entries but values has ${count}; one weight per value`,
    );
  }
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i])) throw new TorchrecError('ERR_NON_FINITE', `weights[${i}] is not finite (${w[i]})`);
  }
  return w;
}

function strideFor(keys: string[], bags: number, hint: unknown, what: string): number {
  if (hint === null) hint = undefined; // null means absent, as for weights
  if (hint !== undefined && (typeof hint !== 'number' || !Number.isSafeInteger(hint) || hint < 0)) {
    throw kjtError(`stride must be a non-negative integer, got ${String(hint)}`);
  }
  if (keys.length === 0) {
    if (bags !== 0) throw kjtError(`a KJT without keys must have no ${what}`);
    return (hint as number | undefined) ?? 0;
  }
  if (bags % keys.length !== 0) {
    throw kjtError(
      `${what} has ${bags} entries, not a multiple of the ${keys.length} keys ` +
        '(key-major layout: keys.length * batchSize entries)',
    );
  }
  const stride = bags / keys.length;
  if (hint !== undefined && hint !== stride) {
    throw kjtError(
      `stride ${hint} does not match ${what}: ${bags} entries for ${keys.length} keys is a batch of ${stride}`,
    );
  }
  return stride;
}

/**
 * Runs a reader of caller input so that it fails only with TorchrecError: whatever else reading
 * throws (a throwing getter, a revoked Proxy, a detached buffer) becomes ERR_INVALID_KJT, as config
 * constructors turn it into ERR_INVALID_CONFIG.
 */
function readingInput<T>(method: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof TorchrecError) throw e;
    let detail: string;
    try {
      detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    } catch {
      detail = 'unknown error';
    }
    throw kjtError(`${method}: the input could not be read (${detail})`);
  }
}

function asNumber(a: NativeIdArray, i: number): number {
  return Number(a[i]);
}

export class KeyedJaggedTensor {
  private constructor(
    private readonly keyList: string[],
    private readonly valueArray: NativeIdArray,
    private lengthArray: NativeIdArray | null,
    private offsetArray: NativeIdArray | null,
    private readonly weightArray: Float32Array | null,
    private readonly batchSize: number,
  ) {}

  static fromLengths(o: KjtFromLengths): KeyedJaggedTensor {
    return readingInput('fromLengths', () => KeyedJaggedTensor.readLengths(o));
  }

  static fromOffsets(o: KjtFromOffsets): KeyedJaggedTensor {
    return readingInput('fromOffsets', () => KeyedJaggedTensor.readOffsets(o));
  }

  private static readLengths(o: KjtFromLengths): KeyedJaggedTensor {
    if (o === null || typeof o !== 'object') throw kjtError('fromLengths expects { keys, values, lengths, weights? }');
    const keys = readKeys(o.keys);
    const values = readIds(o.values, 'values');
    const lengths = readIds(o.lengths, 'lengths');
    const stride = strideFor(keys, lengths.length, o.stride, 'lengths');
    let total = 0;
    for (let i = 0; i < lengths.length; i++) {
      const len = asNumber(lengths, i);
      if (len < 0) throw kjtError(`lengths[${i}] is negative (${len})`);
      total += len;
    }
    if (total !== values.length) {
      throw kjtError(`lengths sum to ${total} but values has ${values.length} entries`);
    }
    const weights = readWeights(o.weights, values.length);
    return new KeyedJaggedTensor(keys, values, lengths, null, weights, stride);
  }

  private static readOffsets(o: KjtFromOffsets): KeyedJaggedTensor {
    if (o === null || typeof o !== 'object') throw kjtError('fromOffsets expects { keys, values, offsets, weights? }');
    const keys = readKeys(o.keys);
    const values = readIds(o.values, 'values');
    const offsets = readIds(o.offsets, 'offsets');
    if (offsets.length === 0) throw kjtError('offsets must have keys.length * batchSize + 1 entries, got 0');
    const stride = strideFor(keys, offsets.length - 1, o.stride, 'offsets (without the leading 0)');
    if (asNumber(offsets, 0) !== 0) throw kjtError(`offsets[0] must be 0, got ${asNumber(offsets, 0)}`);
    for (let i = 1; i < offsets.length; i++) {
      if (asNumber(offsets, i) < asNumber(offsets, i - 1)) {
        throw kjtError(
          `offsets must be non-decreasing: offsets[${i}] = ${asNumber(offsets, i)} < offsets[${i - 1}] = ${asNumber(offsets, i - 1)}`,
        );
      }
    }
    const end = asNumber(offsets, offsets.length - 1);
    if (end !== values.length) throw kjtError(`offsets end at ${end} but values has ${values.length} entries`);
    const weights = readWeights(o.weights, values.length);
    return new KeyedJaggedTensor(keys, values, null, offsets, weights, stride);
  }

  keys(): string[] {
    return [...this.keyList];
  }

  /** The batch size B. */
  stride(): number {
    return this.batchSize;
  }

  values(): NativeIdArray {
    return this.valueArray;
  }

  lengths(): NativeIdArray {
    if (!this.lengthArray) {
      const off = this.offsetArray as NativeIdArray;
      const wide = types.isBigInt64Array(off);
      const out = wide ? new BigInt64Array(off.length - 1) : new Int32Array(off.length - 1);
      for (let i = 0; i + 1 < off.length; i++) {
        if (wide) (out as BigInt64Array)[i] = (off as BigInt64Array)[i + 1] - (off as BigInt64Array)[i];
        else (out as Int32Array)[i] = (off as Int32Array)[i + 1] - (off as Int32Array)[i];
      }
      this.lengthArray = out;
    }
    return this.lengthArray;
  }

  offsets(): NativeIdArray {
    if (!this.offsetArray) {
      const len = this.lengthArray as NativeIdArray;
      const out = new BigInt64Array(len.length + 1);
      for (let i = 0; i < len.length; i++) out[i + 1] = out[i] + BigInt(len[i]);
      this.offsetArray = out;
    }
    return this.offsetArray;
  }

  weights(): Float32Array | null {
    return this.weightArray;
  }

  /** @internal The arguments every native KJT call takes. */
  nativeArgs(): NativeKjtArgs {
    return [
      this.keyList,
      this.valueArray,
      this.offsetArray ? null : this.lengthArray,
      this.offsetArray,
      this.weightArray,
      this.batchSize,
    ];
  }
}
