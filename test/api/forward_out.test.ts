/**
 * forward / forwardSync with `options.out`: the call pools into the caller's Float32Array and returns
 * it as the result's values, with exactly the bits of a forward that allocates; every way the array
 * can be wrong is a TorchrecError naming it, and a failed call leaves the array free to reuse.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings } from '../../lib';
import type { NativeKjtArgs } from '../../lib/native';
import { expectRejects, expectThrows } from '../helpers/errors';
import { oneTableHandle } from '../helpers/native_handle';
import { patternEbc, SMALL_TABLES, sameBits } from '../helpers/reliability';

const KEYS = ['u1', 'u2', 'item'];
const WIDTH = 4 + 4 + 3;

/** A batch of `batch` samples, each feature `length` ids, drawn from `seed`. */
function batchOf(batch: number, length: number, seed: number): KeyedJaggedTensor {
  const rows = [10, 10, 7];
  const values: number[] = [];
  let x = seed;
  for (let k = 0; k < KEYS.length; k++) {
    for (let i = 0; i < batch * length; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      values.push(x % rows[k]);
    }
  }
  return KeyedJaggedTensor.fromLengths({
    keys: KEYS,
    values: Int32Array.from(values),
    lengths: new Int32Array(KEYS.length * batch).fill(length),
  });
}

// Small batches run on the small-call lane (or inline); this one is big enough for the thread pool.
const SMALL = batchOf(2, 3, 1);
const BIG = batchOf(4000, 3, 2);

describe.each([
  ['default', {}],
  ['inlineSmallForwards', { inlineSmallForwards: true }],
])('%s collection', (_name, options) => {
  let ebc: EmbeddingBagCollection;
  beforeAll(() => {
    ebc = patternEbc(SMALL_TABLES, false, options);
  });
  afterAll(() => ebc.dispose());

  test.each([
    ['small', SMALL],
    ['big', BIG],
  ])('a %s batch pools into out with the bits of a fresh result, sync and async', async (_size, kjt) => {
    const want = ebc.forwardSync(kjt).values();
    const out = new Float32Array(kjt.stride() * WIDTH).fill(NaN);
    const sync = ebc.forwardSync(kjt, { out });
    expect(sync.values()).toBe(out);
    expect(sameBits(out, want)).toBe(true);

    out.fill(NaN);
    const pending = ebc.forward(kjt, { out });
    const result = await pending;
    expect(result.values()).toBe(out);
    expect(sameBits(out, want)).toBe(true);
    expect(result.toDict().item).toEqual(ebc.forwardSync(kjt).toDict().item);
  });

  test('one out reused call after call holds each call’s result', async () => {
    const out = new Float32Array(SMALL.stride() * WIDTH);
    const other = batchOf(2, 3, 99);
    await ebc.forward(SMALL, { out });
    expect(sameBits(out, ebc.forwardSync(SMALL).values())).toBe(true);
    ebc.forwardSync(other, { out });
    expect(sameBits(out, ebc.forwardSync(other).values())).toBe(true);
  });

  test('calls in flight at once may share a buffer through disjoint views', async () => {
    const n = BIG.stride() * WIDTH;
    const buffer = new ArrayBuffer(2 * n * 4);
    const first = new Float32Array(buffer, 0, n);
    const second = new Float32Array(buffer, n * 4, n);
    const other = batchOf(4000, 3, 3);
    const [a, b] = await Promise.all([ebc.forward(BIG, { out: first }), ebc.forward(other, { out: second })]);
    expect(a.values()).toBe(first);
    expect(b.values()).toBe(second);
    expect(sameBits(first, ebc.forwardSync(BIG).values())).toBe(true);
    expect(sameBits(second, ebc.forwardSync(other).values())).toBe(true);
  });
});

describe('a wrong out', () => {
  let ebc: EmbeddingBagCollection;
  beforeAll(() => {
    ebc = patternEbc(SMALL_TABLES);
  });
  afterAll(() => ebc.dispose());

  const both = async (options: unknown, code: string, ...mentions: string[]): Promise<void> => {
    const o = options as { out?: Float32Array };
    expectThrows(() => ebc.forwardSync(SMALL, o), code, 'forwardSync', ...mentions);
    await expectRejects(ebc.forward(SMALL, o), code, 'forward', ...mentions);
  };

  test('of the wrong length is ERR_SHAPE giving both sizes', async () => {
    await both({ out: new Float32Array(SMALL.stride() * WIDTH - 1) }, 'ERR_SHAPE', '21 float32 values', '[2][11]');
    await both({ out: new Float32Array(SMALL.stride() * WIDTH + 1) }, 'ERR_SHAPE', '23 float32 values');
  });

  test.each([
    ['a Float64Array', { out: new Float64Array(22) }, 'out: must be a Float32Array'],
    ['a plain array', { out: new Array(22).fill(0) }, 'out: must be a Float32Array'],
    ['an unknown option', { out: new Float32Array(22), outt: 1 }, 'outt: unknown field'],
    ['not an object', 'out', 'must be an object'],
  ])('%s is ERR_INVALID_ARGUMENT naming the field', async (_what, options, mention) => {
    await both(options, 'ERR_INVALID_ARGUMENT', mention);
  });

  test('sharing memory with the KJT it pools is ERR_INVALID_ARGUMENT', async () => {
    // The ids live in the first bytes of a buffer that out would overlap.
    const ids = SMALL.values() as Int32Array;
    const buffer = new ArrayBuffer(ids.byteLength + SMALL.stride() * WIDTH * 4);
    const values = new Int32Array(buffer, 0, ids.length);
    values.set(ids);
    const kjt = KeyedJaggedTensor.fromLengths({ keys: KEYS, values, lengths: SMALL.lengths() });
    const overlapping = new Float32Array(buffer, 4, SMALL.stride() * WIDTH);
    const o = { out: overlapping };
    expectThrows(() => ebc.forwardSync(kjt, o), 'ERR_INVALID_ARGUMENT', "shares memory with the KJT's values");
    await expectRejects(ebc.forward(kjt, o), 'ERR_INVALID_ARGUMENT', "shares memory with the KJT's values");
    // The same buffer past the ids is fine.
    const after = new Float32Array(buffer, ids.byteLength, SMALL.stride() * WIDTH);
    expect(sameBits(ebc.forwardSync(kjt, { out: after }).values(), ebc.forwardSync(SMALL).values())).toBe(true);
  });

  test('the out of a forward still in flight is refused until it settles', async () => {
    const out = new Float32Array(BIG.stride() * WIDTH);
    const first = ebc.forward(BIG, { out });
    expectThrows(() => ebc.forwardSync(BIG, { out }), 'ERR_INVALID_ARGUMENT', 'still in flight');
    await expectRejects(ebc.forward(BIG, { out }), 'ERR_INVALID_ARGUMENT', 'still in flight');
    const overlapping = new Float32Array(out.buffer, 4, SMALL.stride() * WIDTH);
    expectThrows(() => ebc.forwardSync(SMALL, { out: overlapping }), 'ERR_INVALID_ARGUMENT', 'still in flight');
    await first;
    expect((await ebc.forward(BIG, { out })).values()).toBe(out);
  });

  // The pooling never writes the caller's memory off the JS thread: it is copied in on completion,
  // after a check, so a buffer transferred or shrunk meanwhile costs the result, never the process.
  test.each([
    ['small', SMALL],
    ['big', BIG],
  ])('an out whose buffer is detached or shrunk while a %s forward is in flight rejects it', async (_s, kjt) => {
    const n = kjt.stride() * WIDTH;
    const out = new Float32Array(n);
    const pending = ebc.forward(kjt, { out });
    const channel = new MessageChannel();
    channel.port1.postMessage(null, [out.buffer]); // transfers (detaches) the buffer
    channel.port1.close();
    channel.port2.close();
    expect(out.length).toBe(0);
    await expectRejects(pending, 'ERR_INVALID_ARGUMENT', 'out was detached or resized', `the result ${n}`);

    // Resizable buffers (ES2024) are newer than this project's TypeScript lib.
    const Resizable = ArrayBuffer as unknown as new (
      n: number,
      o: { maxByteLength: number },
    ) => ArrayBuffer & {
      resize(n: number): void;
    };
    const resizable = new Resizable(n * 4, { maxByteLength: n * 4 });
    const shrunk = new Float32Array(resizable, 0, n);
    const second = ebc.forward(kjt, { out: shrunk });
    resizable.resize(4);
    await expectRejects(second, 'ERR_INVALID_ARGUMENT', 'out was detached or resized');

    const again = new Float32Array(n);
    expect(sameBits((await ebc.forward(kjt, { out: again })).values(), ebc.forwardSync(kjt).values())).toBe(true);
  });

  test('a forward that fails leaves out free for the next call', async () => {
    const bad = KeyedJaggedTensor.fromLengths({
      keys: KEYS,
      values: Int32Array.from([1, 2, 3, 4, 5, 6, 70, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3]),
      lengths: new Int32Array(6).fill(3),
    });
    const out = new Float32Array(2 * WIDTH);
    await expectRejects(ebc.forward(bad, { out }), 'ERR_INDEX_OUT_OF_RANGE', 'id 70');
    expectThrows(() => ebc.forwardSync(bad, { out }), 'ERR_INDEX_OUT_OF_RANGE', 'id 70');
    expect(sameBits((await ebc.forward(SMALL, { out })).values(), ebc.forwardSync(SMALL).values())).toBe(true);
  });

  test('an empty batch takes an empty out, sync and async', async () => {
    const empty = KeyedJaggedTensor.fromLengths({ keys: KEYS, values: new Int32Array(0), lengths: new Int32Array(0) });
    const out = new Float32Array(0);
    expect(ebc.forwardSync(empty, { out }).values()).toBe(out);
    expect((await ebc.forward(empty, { out })).values()).toBe(out);
  });

  test('undefined or null out allocates as without options', async () => {
    const want = ebc.forwardSync(SMALL).values();
    expect(sameBits(ebc.forwardSync(SMALL, {}).values(), want)).toBe(true);
    expect(sameBits(ebc.forwardSync(SMALL, { out: undefined }).values(), want)).toBe(true);
    expect(sameBits((await ebc.forward(SMALL, { out: null as unknown as undefined })).values(), want)).toBe(true);
  });
});

// The JS layer checks out before the call; the native core does not trust it and checks again.
describe('the native binding on its own', () => {
  const handle = oneTableHandle();
  afterAll(() => handle.dispose());
  const args = (): NativeKjtArgs => [['t'], Int32Array.from([1, 2, 3]), Int32Array.from([1, 2]), null, null, 2];

  test('refuses an out of the wrong length or type, sync and async', async () => {
    expectThrows(() => handle.forwardSync(...args(), false, new Float32Array(3)), 'ERR_SHAPE', 'out has 3');
    await expectRejects(
      Promise.resolve().then(() => handle.forward(...args(), false, false, new Float32Array(5))),
      'ERR_SHAPE',
      'out has 5',
    );
    const wrong = new Float64Array(4) as unknown as Float32Array;
    expectThrows(() => handle.forwardSync(...args(), false, wrong), 'ERR_INVALID_ARGUMENT', 'must be a Float32Array');
  });

  test('pools into a right one and returns it', async () => {
    const out = new Float32Array(4);
    expect(handle.forwardSync(...args(), false, out)).toBe(out);
    const fresh = handle.forwardSync(...args(), false);
    expect(Array.from(out)).toEqual(Array.from(fresh));
    const async = new Float32Array(4);
    expect(await handle.forward(...args(), false, false, async)).toBe(async);
    expect(Array.from(async)).toEqual(Array.from(fresh));
  });
});

// LargeEmbeddings passes the options through to its collection; surgeryCutPoint then sees that result.
describe('LargeEmbeddings', () => {
  const le = new LargeEmbeddings({ tables: SMALL_TABLES }, { seed: 7 });
  afterAll(() => le.ebc.dispose());

  test('forward and forwardSync pool into out, with the bits of a fresh result', async () => {
    const fresh = le.forwardSync(SMALL).values();
    const out = new Float32Array(fresh.length);
    let seen: Float32Array | undefined;
    le.surgeryCutPoint = (kt) => ((seen = kt.values()), kt);
    expect(le.forwardSync(SMALL, { out }).values()).toBe(out);
    expect(seen).toBe(out);
    expect(sameBits(out, fresh)).toBe(true);
    const later = new Float32Array(fresh.length);
    expect((await le.forward(SMALL, { out: later })).values()).toBe(later);
    expect(sameBits(later, fresh)).toBe(true);
  });

  test("a wrong out is the collection's error", async () => {
    expectThrows(() => le.forwardSync(SMALL, { out: new Float32Array(3) }), 'ERR_SHAPE', 'out');
    await expectRejects(le.forward(SMALL, { out: new Float32Array(3) }), 'ERR_SHAPE', 'out');
  });
});
