/**
 * Malformed KeyedJaggedTensors are refused when they are built, each with one TorchrecError whose
 * code is stable and whose message names the offending argument and entry.
 */
import * as vm from 'vm';
import { KeyedJaggedTensor, TorchrecError } from '../../lib';
import { expectThrows } from '../helpers/errors';

/** ['a', <hole>, 'c'] */
function keysWithHole(): string[] {
  const a = ['a', 'b', 'c'];
  delete a[1];
  return a;
}

/** [1, <hole>, 3]: a sparse array, which must not silently become id 0. */
function withHole(): number[] {
  const a = [1, 2, 3];
  delete a[1];
  return a;
}

const I32 = (xs: number[]) => Int32Array.from(xs);
const I64 = (xs: number[]) => BigInt64Array.from(xs.map(BigInt));

describe.each([
  ['Int32Array', I32],
  ['BigInt64Array', I64],
  ['number[]', (xs: number[]) => xs],
] as const)('with %s ids and lengths', (_name, ids) => {
  test('lengths that do not sum to the number of values are ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: ids([1, 2, 3]), lengths: ids([1, 1]) }),
      'ERR_INVALID_KJT',
      'lengths sum to 2',
      'values has 3 entries',
    );
  });

  test('a negative length is ERR_INVALID_KJT naming its position', () => {
    // -1 + 4 = 3 = values.length: the sum alone would not catch it.
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a', 'b'], values: ids([1, 2, 3]), lengths: ids([0, -1, 4, 0]) }),
      'ERR_INVALID_KJT',
      'lengths[1] is negative (-1)',
    );
  });

  test('offsets not starting at 0 are ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a'], values: ids([1, 2]), offsets: ids([1, 2]) }),
      'ERR_INVALID_KJT',
      'offsets[0] must be 0, got 1',
    );
  });

  test('decreasing offsets are ERR_INVALID_KJT naming both entries', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a', 'b'], values: ids([1, 2, 3]), offsets: ids([0, 2, 1, 3, 3]) }),
      'ERR_INVALID_KJT',
      'non-decreasing',
      'offsets[2] = 1 < offsets[1] = 2',
    );
  });

  test('offsets that do not end at the number of values are ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a'], values: ids([1, 2, 3]), offsets: ids([0, 1, 2]) }),
      'ERR_INVALID_KJT',
      'offsets end at 2',
      'values has 3 entries',
    );
  });

  test('lengths not divisible by the number of keys are ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a', 'b'], values: ids([1, 2, 3]), lengths: ids([1, 1, 1]) }),
      'ERR_INVALID_KJT',
      'lengths has 3 entries',
      'not a multiple of the 2 keys',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a', 'b'], values: ids([1, 2, 3]), offsets: ids([0, 1, 2, 3]) }),
      'ERR_INVALID_KJT',
      'offsets',
      'not a multiple of the 2 keys',
    );
  });
});

describe('weights', () => {
  const base = { keys: ['a'], values: I32([1, 2, 3]), lengths: I32([3]) };

  test.each([
    ['too few', new Float32Array(2)],
    ['too many', new Float32Array(4)],
    ['empty', []],
  ])('%s weights are ERR_SHAPE naming both counts', (_n, weights) => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ ...base, weights }),
      'ERR_SHAPE',
      `weights has ${weights.length} entries`,
      'values has 3',
    );
  });

  test.each([NaN, Infinity, -Infinity])('a %s weight is ERR_NON_FINITE naming its position', (bad) => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ ...base, weights: Float32Array.from([1, 0.5, bad]) }),
      'ERR_NON_FINITE',
      `weights[2] is not finite (${bad})`,
    );
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ ...base, offsets: I32([0, 3]), weights: [bad, 1, 1] }),
      'ERR_NON_FINITE',
      'weights[0] is not finite',
    );
  });

  test.each([
    ['Float64Array', new Float64Array(3)],
    ['Int32Array', new Int32Array(3)],
    ['a string', 'abc'],
  ])('%s weights are ERR_DTYPE', (name, weights) => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ ...base, weights: weights as never }),
      'ERR_DTYPE',
      'weights',
      name === 'a string' ? 'string' : name,
    );
  });

  test('an array of weights with a non-number entry or a hole is ERR_DTYPE naming the entry', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ ...base, weights: [1, '2', 3] as never }),
      'ERR_DTYPE',
      'weights[1]',
      'string',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ ...base, weights: withHole() as never }),
      'ERR_DTYPE',
      'weights[1]',
      'undefined',
    );
  });
});

describe('keys', () => {
  test('duplicate keys are ERR_INVALID_KJT naming the key', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a', 'b', 'a'], values: I32([]), lengths: I32([0, 0, 0]) }),
      'ERR_INVALID_KJT',
      'key "a" appears twice',
    );
  });

  test.each([
    ['not an array', 'a'],
    ['a number entry', ['a', 3]],
    ['an empty key', ['a', '']],
    ['a hole', keysWithHole()],
  ])('keys with %s are ERR_INVALID_KJT', (_n, keys) => {
    const e = expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: keys as string[], values: I32([]), lengths: I32([0, 0, 0]) }),
      'ERR_INVALID_KJT',
      'keys',
    );
    expect(e.message).toMatch(/keys must be an array|keys\[1\] must be a non-empty string/);
  });
});

describe('id arrays of the wrong type', () => {
  const wrong: [string, unknown][] = [
    ['Float32Array', new Float32Array(2)],
    ['Float64Array', new Float64Array(2)],
    ['Uint32Array', new Uint32Array(2)],
    ['Int16Array', new Int16Array(2)],
    ['BigUint64Array', new BigUint64Array(2)],
    ['Uint8Array', Buffer.alloc(2)],
    ['string', '1,2'],
    ['null', null],
    ['undefined', undefined],
    ['object', { 0: 1, 1: 2, length: 2 }],
  ];

  test.each(wrong)('%s values are ERR_DTYPE naming values and the type', (name, values) => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: values as never, lengths: I32([2]) }),
      'ERR_DTYPE',
      'values',
      name,
    );
  });

  test.each(wrong)('%s lengths / offsets are ERR_DTYPE', (name, bad) => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: I32([1, 2]), lengths: bad as never }),
      'ERR_DTYPE',
      'lengths',
      name,
    );
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a'], values: I32([1, 2]), offsets: bad as never }),
      'ERR_DTYPE',
      'offsets',
      name,
    );
  });

  test('number[] ids must be safe integers; a hole is not silently id 0', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: [1, 2.5], lengths: [2] }),
      'ERR_INVALID_KJT',
      'values[1] must be an integer, got 2.5',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: [1, 2 ** 60], lengths: [2] }),
      'ERR_INVALID_KJT',
      'values[1]',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: withHole() as never, lengths: [3] }),
      'ERR_INVALID_KJT',
      'values[1] must be an integer, got undefined',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: [1, 2], lengths: [NaN] }),
      'ERR_INVALID_KJT',
      'lengths[0]',
    );
  });

  test('typed arrays from another realm are accepted, not reported as "got Int32Array"', () => {
    const foreign = vm.runInNewContext(
      '({ v: new Int32Array([1, 2]), l: new BigInt64Array([2n]), w: new Float32Array([1, 2]) })',
    );
    expect(foreign.v instanceof Int32Array).toBe(false);
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: ['a'],
      values: foreign.v,
      lengths: foreign.l,
      weights: foreign.w,
    });
    expect(kjt.stride()).toBe(1);
    expect(Array.from(kjt.lengths(), Number)).toEqual([2]);
  });
});

describe('other arguments', () => {
  test.each([null, undefined, 42, 'kjt'])('fromLengths and fromOffsets of %p are ERR_INVALID_KJT', (o) => {
    expectThrows(() => KeyedJaggedTensor.fromLengths(o as never), 'ERR_INVALID_KJT', 'fromLengths expects');
    expectThrows(() => KeyedJaggedTensor.fromOffsets(o as never), 'ERR_INVALID_KJT', 'fromOffsets expects');
  });

  test('input that throws while being read (getter, revoked proxy, detached buffer) is ERR_INVALID_KJT', () => {
    const getter = Object.defineProperty({ values: [], lengths: [] }, 'keys', {
      get: () => {
        throw new RangeError('boom');
      },
    });
    expectThrows(
      () => KeyedJaggedTensor.fromLengths(getter as never),
      'ERR_INVALID_KJT',
      'fromLengths: the input could not be read',
      'RangeError: boom',
    );
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets(proxy as never),
      'ERR_INVALID_KJT',
      'fromOffsets: the input could not be read',
    );
    const values = new Int32Array([1, 2]);
    structuredClone(values.buffer, { transfer: [values.buffer] });
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values, lengths: [2] }),
      'ERR_INVALID_KJT',
      'lengths sum to 2',
      'values has 0',
    );
  });

  test('offsets with no entries are ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromOffsets({ keys: ['a'], values: I32([]), offsets: I32([]) }),
      'ERR_INVALID_KJT',
      'offsets must have',
    );
  });

  test('a stride that contradicts the lengths, or is not a count, is ERR_INVALID_KJT', () => {
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: ['a'], values: I32([]), lengths: I32([0, 0]), stride: 3 }),
      'ERR_INVALID_KJT',
      'stride 3 does not match',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: [], values: I32([]), lengths: I32([]), stride: -1 }),
      'ERR_INVALID_KJT',
      'stride',
      '-1',
    );
    expectThrows(
      () => KeyedJaggedTensor.fromLengths({ keys: [], values: I32([1]), lengths: I32([1]) }),
      'ERR_INVALID_KJT',
      'without keys',
    );
  });

  test('every failure is a TorchrecError, also for fromOffsets with BigInt64Array offsets beyond 2^53', () => {
    const offsets = BigInt64Array.from([0n, 2n ** 60n + 1n, 2n ** 60n, 2n]);
    expect(() => KeyedJaggedTensor.fromOffsets({ keys: ['a', 'b', 'c'], values: I32([1, 2]), offsets })).toThrow(
      TorchrecError,
    );
  });
});
