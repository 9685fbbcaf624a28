/**
 * Modes (backward only in TRAIN), tables without an optimizer, optimizer state names and shapes
 * (FBGEMM's), the lazy rule (untouched rows and state never change; touched rows update even with a
 * zero gradient), setOptimizerState, and fp16 tables (fp32 state, update from the widened row,
 * rounded to fp16 once).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, Mode, TorchrecError } from '../../lib';
import { maxAbsDiff } from '../helpers/golden';

const N = 6;
const D = 3;

function build(optimizer: object | undefined, dataType: 'fp32' | 'fp16' = 'fp32'): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      {
        name: 't',
        num_embeddings: N,
        embedding_dim: D,
        data_type: dataType,
        feature_names: ['f'],
        ...(optimizer ? { optimizer } : {}),
      },
    ],
    seed: 5,
    stochasticRounding: false, // pins FBGEMM's math with round-to-nearest fp16 writes
  });
}

/** B = 2: sample 0 reads rows 1 and 4, sample 1 reads row 4 again. */
const kjt = () => KeyedJaggedTensor.fromLengths({ keys: ['f'], values: [1, 4, 4], lengths: [2, 1] });
const grad = () => Float32Array.from([0.5, -1, 2, 1.5, 0.25, -0.75]);

async function expectRejected(p: Promise<unknown>, code: string, message?: RegExp): Promise<TorchrecError> {
  const e = await p.then(
    () => {
      throw new Error(`expected ${code}, but the call succeeded`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TorchrecError);
  expect((e as TorchrecError).code).toBe(code);
  if (message) expect((e as TorchrecError).message).toMatch(message);
  return e as TorchrecError;
}

describe('modes', () => {
  test.each([Mode.EVALUATE, Mode.INFERENCE])('backward in %s is ERR_INVALID_MODE and changes nothing', async (mode) => {
    const ebc = build({ adam: { lr: 0.1 } });
    const before = ebc.getWeights('t');
    ebc.setMode(mode);
    expect(ebc.mode).toBe(mode);
    await expectRejected(ebc.backward(kjt(), grad()), 'ERR_INVALID_MODE', /train/);
    expect(ebc.step).toBe(0);
    expect(ebc.getWeights('t')).toEqual(before);
    expect(ebc.optimizerState('t').momentum1.every((x) => x === 0)).toBe(true);
    // forward is fine in every mode
    await expect(ebc.forward(kjt())).resolves.toBeDefined();
    ebc.mode = Mode.TRAIN;
    await ebc.backward(kjt(), grad());
    expect(ebc.step).toBe(1);
  });

  test('an unknown mode is rejected', () => {
    const ebc = build(undefined);
    expect(() => ebc.setMode('training' as Mode)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_MODE' }));
  });
});

describe('tables without an optimizer', () => {
  test('build and run forward in TRAIN; backward names every such table', async () => {
    const ebc = new EmbeddingBagCollection({
      tables: [
        { name: 'with', num_embeddings: 4, embedding_dim: 2, optimizer: { sgd: { lr: 1 } } },
        { name: 'without1', num_embeddings: 4, embedding_dim: 2 },
        { name: 'without2', num_embeddings: 4, embedding_dim: 2 },
      ],
    });
    expect(ebc.mode).toBe(Mode.TRAIN);
    const batch = KeyedJaggedTensor.fromLengths({
      keys: ['with', 'without1', 'without2'],
      values: [0, 1, 2],
      lengths: [1, 1, 1],
    });
    await ebc.forward(batch);
    const before = ebc.getWeights('with');
    const e = await expectRejected(ebc.backward(batch, new Float32Array(6)), 'ERR_INVALID_CONFIG');
    expect(e.message).toContain('"without1"');
    expect(e.message).toContain('"without2"');
    expect(e.message).not.toContain('"with"');
    expect(ebc.getWeights('with')).toEqual(before);
    expect(ebc.optimizerState('without1')).toEqual({});
  });
});

describe('optimizer state', () => {
  const SHAPES: [string, object, Record<string, number>][] = [
    ['sgd', { sgd: { lr: 0.1 } }, {}],
    ['adagrad', { adagrad: { lr: 0.1, eps: 1e-8 } }, { momentum1: N * D }],
    ['rowwise_adagrad', { rowwise_adagrad: { lr: 0.1 } }, { momentum1: N }],
    ['adam', { adam: { lr: 0.1 } }, { momentum1: N * D, momentum2: N * D }],
    ['partial_rowwise_adam', { partial_rowwise_adam: { lr: 0.1 } }, { momentum1: N * D, momentum2: N }],
    ['lamb', { lamb: { lr: 0.1 } }, { momentum1: N * D, momentum2: N * D }],
  ];

  test.each(SHAPES)(
    '%s: names and sizes; untouched rows and their state never change',
    async (_name, optimizer, sizes) => {
      for (const dataType of ['fp32', 'fp16'] as const) {
        const ebc = build(optimizer, dataType);
        const w0 = ebc.getWeights('t');
        const s0 = ebc.optimizerState('t');
        expect(Object.fromEntries(Object.entries(s0).map(([k, v]) => [k, v.length]))).toEqual(sizes);
        await ebc.backward(kjt(), grad());
        await ebc.backward(kjt(), grad());
        const w = ebc.getWeights('t');
        const s = ebc.optimizerState('t');
        for (let r = 0; r < N; r++) {
          const touched = r === 1 || r === 4;
          const rowMoved = [0, 1, 2].some((d) => w[r * D + d] !== w0[r * D + d]);
          expect(rowMoved).toBe(touched);
          for (const [name, data] of Object.entries(s)) {
            const width = data.length / N;
            const slot = Array.from(data.subarray(r * width, (r + 1) * width));
            expect(slot.some((x) => x !== 0)).toBe(touched);
            expect(name).toMatch(/^momentum[12]$/);
          }
        }
      }
    },
  );

  test('a touched row is updated even when its summed gradient is 0 (decoupled weight decay)', async () => {
    const ebc = build({ rowwise_adagrad: { lr: 0.5, weight_decay: 0.2, weight_decay_mode: 'decoupled' } });
    const w0 = ebc.getWeights('t');
    // Row 4 is read twice with opposite gradients: they cancel, yet the row is touched.
    await ebc.backward(kjt(), Float32Array.from([0, 0, 0, 0, 0, 0]));
    const w = ebc.getWeights('t');
    for (let i = 0; i < N * D; i++) {
      const row = Math.floor(i / D);
      // g = 0: m stays 0, mult = lr / eps, corr = 1 - lr * wd = 0.9; w <- 0.9 w - mult * 0.
      const want = row === 1 || row === 4 ? Math.fround(Math.fround(0.9) * w0[i]) : w0[i];
      expect(w[i]).toBeCloseTo(want, 7);
    }
    expect(ebc.step).toBe(1);
  });

  test('setOptimizerState round-trips and validates name, length and table', async () => {
    const ebc = build({ partial_rowwise_adam: { lr: 0.1 } });
    const m1 = Float32Array.from({ length: N * D }, (_, i) => i / 10);
    const m2 = Float32Array.from({ length: N }, (_, i) => i + 1);
    ebc.setOptimizerState('t', 'momentum1', m1);
    ebc.setOptimizerState('t', 'momentum2', Array.from(m2));
    expect(ebc.optimizerState('t')).toEqual({ momentum1: m1, momentum2: m2 });
    expect(() => ebc.setOptimizerState('t', 'momentum3', m2)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringContaining('momentum1, momentum2'),
      }),
    );
    expect(() => ebc.setOptimizerState('t', 'momentum2', m1)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining(`${N} values`) }),
    );
    expect(() => ebc.setOptimizerState('t', 'momentum1', Float32Array.from([NaN, ...m1.subarray(1)]))).toThrow(
      expect.objectContaining({
        code: 'ERR_NON_FINITE',
        message: expect.stringContaining('momentum1 of table t: element 0 is not finite'),
      }),
    );
    // momentum2 is a sum of squares (Adam's denominator takes its root): a negative value would give NaN rows.
    expect(() => ebc.setOptimizerState('t', 'momentum2', Float32Array.from([1, -0.5, ...m2.subarray(2)]))).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringContaining('momentum2 of table t: element 1 is -0.5'),
      }),
    );
    // momentum1 of Adam is a signed average and may be negative.
    ebc.setOptimizerState(
      't',
      'momentum1',
      Float32Array.from(m1, (x) => -x),
    );
    ebc.setOptimizerState('t', 'momentum1', m1);
    expect(() => ebc.setOptimizerState('nope', 'momentum1', m1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
    expect(() => ebc.optimizerState('tt')).toThrow(/no table named "tt"/);
    // The restored state is what the next step starts from: row 0 (untouched) keeps it exactly.
    await ebc.backward(kjt(), grad());
    const s = ebc.optimizerState('t');
    expect(Array.from(s.momentum1.subarray(0, D))).toEqual(Array.from(m1.subarray(0, D)));
    expect(s.momentum2[0]).toBe(1);
    expect(s.momentum2[1]).not.toBe(2);
  });
});

describe('fp16 tables', () => {
  /** One Adam step in float64 from the fp16 row, for comparison. */
  function adamReference(w: number, g: number, lr: number): { w: number; m: number; v: number } {
    const [b1, b2, eps] = [0.9, 0.999, 1e-7];
    const m = (1 - b1) * g;
    const v = (1 - b2) * g * g;
    return { w: w - lr * (m / (1 - b1) / (Math.sqrt(v / (1 - b2)) + eps)), m, v };
  }

  test('Adam on an fp16 table keeps fp32 state and rounds the new row to fp16 once', async () => {
    const ebc = build({ adam: { lr: 0.001 } }, 'fp16');
    const w0 = ebc.getWeights('t');
    await ebc.backward(kjt(), grad());
    const w = ebc.getWeights('t');
    const s = ebc.optimizerState('t');
    // Summed gradients: row 1 = sample 0's block, row 4 = sample 0 + sample 1.
    const G = grad();
    const rowGrad: Record<number, number[]> = { 1: [G[0], G[1], G[2]], 4: [G[0] + G[3], G[1] + G[4], G[2] + G[5]] };
    for (const [row, g] of Object.entries(rowGrad)) {
      for (let d = 0; d < D; d++) {
        const i = Number(row) * D + d;
        const ref = adamReference(w0[i], g[d], 0.001);
        // The state is fp32, not fp16: m = 0.1 * g lands within fp32 rounding (1e-7) of the exact
        // value, where an fp16 state would be off by ~1e-5.
        expect(Math.abs(s.momentum1[i] - ref.m)).toBeLessThanOrEqual(1e-7);
        expect(Math.abs(s.momentum2[i] - ref.v)).toBeLessThanOrEqual(1e-6 * ref.v);
        // The update (about 4 fp16 ulps here) is computed in fp32 from the widened row and rounded to
        // fp16 once, so the new row is within half an fp16 ulp of the exact value.
        const ulp = 2 ** (Math.floor(Math.log2(Math.abs(ref.w))) - 10);
        expect(Math.abs(w[i] - ref.w)).toBeLessThanOrEqual(ulp / 2 + 1e-7);
      }
    }
    expect(maxAbsDiff(w.subarray(0, D), w0.subarray(0, D))).toBe(0);
  });
});
