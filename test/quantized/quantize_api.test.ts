/**
 * ebc.quantize() and int-typed tables through the public API: what converts, what stays, and every
 * misuse a clear TorchrecError (dims that do not pack, optimizers, TRAIN mode, backward, bad targets).
 */
import { DataType, EmbeddingBagCollection, KeyedJaggedTensor, Mode, PoolingType } from '../../lib';
import { expectThrows } from '../helpers/errors';

function source(): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: 50, embedding_dim: 8, feature_names: ['x', 'y'] },
      { name: 'b', num_embeddings: 30, embedding_dim: 4, data_type: DataType.FP16, pooling: PoolingType.MEAN },
      { name: 'c', num_embeddings: 20, embedding_dim: 6, feature_names: ['x'] },
    ],
    seed: 7,
    optimizer: { init_learning_rate: 0.1 },
  });
}

function kjt(): KeyedJaggedTensor {
  return KeyedJaggedTensor.fromLengths({
    keys: ['x', 'y', 'b'],
    values: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    lengths: Int32Array.from([2, 1, 0, 3, 2, 1]),
  });
}

test('quantize(dtype) converts every table, keeps output keys, and starts in INFERENCE mode', async () => {
  const src = new EmbeddingBagCollection({
    tables: [
      { name: 'a', num_embeddings: 50, embedding_dim: 8, feature_names: ['x', 'y'] },
      { name: 'b', num_embeddings: 30, embedding_dim: 4, data_type: DataType.FP16 },
    ],
    seed: 7,
  });
  const q = src.quantize(DataType.INT4);
  expect(q.tables.map((t) => t.data_type)).toEqual([DataType.INT4, DataType.INT4]);
  expect(q.mode).toBe(Mode.INFERENCE);
  expect(q.outputKeys()).toEqual(src.outputKeys());
  const k = KeyedJaggedTensor.fromLengths({
    keys: ['x', 'y', 'b'],
    values: Int32Array.from([1, 2, 3, 4, 5, 6]),
    lengths: Int32Array.from([2, 1, 1, 2, 0, 0]),
  });
  const a = (await src.forward(k)).values();
  const b = (await q.forward(k)).values();
  expect(b.length).toBe(a.length);
  // int4 keeps each value within half a step (range / 15 / 2) of the original; rows are in ±sqrt(1/N).
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan((3 * (2 * Math.sqrt(1 / 30))) / 15);
  src.dispose();
  q.dispose();
});

test('quantize(Record) converts the named tables; the others keep their type and exact weights', async () => {
  const src = source();
  const q = src.quantize({ a: DataType.INT8, c: DataType.INT4 });
  expect(q.tables.map((t) => t.data_type)).toEqual([DataType.INT8, DataType.FP16, DataType.INT4]);
  expect(q.tables.every((t) => t.optimizer === undefined)).toBe(true);
  expect(q.getWeights('b')).toEqual(src.getWeights('b'));
  const out = (await q.forward(kjt())).toDict();
  expect(Object.keys(out)).toEqual(src.outputKeys());
  src.dispose();
  q.dispose();
});

test('a dim that does not pack to whole bytes is ERR_INVALID_CONFIG naming the table', () => {
  const src = source();
  expectThrows(() => src.quantize({ c: DataType.INT2 }), 'ERR_INVALID_CONFIG', /"c"/, /multiple of 4/);
  expectThrows(() => src.quantize(DataType.INT2), 'ERR_INVALID_CONFIG', /"c"/, /multiple of 4/);
  expectThrows(
    () =>
      new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 4, embedding_dim: 3, data_type: 'int4' }] }),
    'ERR_INVALID_CONFIG',
    /embedding_dim/,
    /multiple of 2/,
  );
  src.dispose();
});

test('bad targets and already-quantized sources are ERR_INVALID_ARGUMENT', () => {
  const src = source();
  expectThrows(() => src.quantize(DataType.FP16), 'ERR_INVALID_ARGUMENT', /int8, int4, int2/);
  expectThrows(() => src.quantize({ nope: DataType.INT8 }), 'ERR_INVALID_ARGUMENT', /no table named "nope"/);
  expectThrows(() => src.quantize({ a: 'int3' as DataType }), 'ERR_INVALID_ARGUMENT', /"a"/);
  const q = src.quantize({ a: DataType.INT8 });
  expectThrows(() => q.quantize(DataType.INT4), 'ERR_INVALID_ARGUMENT', /already int8/);
  src.dispose();
  q.dispose();
});

test('an optimizer on an int table, TRAIN mode and backward are refused', async () => {
  expectThrows(
    () =>
      new EmbeddingBagCollection({
        tables: [
          { name: 't', num_embeddings: 4, embedding_dim: 8, data_type: 'int8', optimizer: { sgd: { lr: 0.1 } } },
        ],
      }),
    'ERR_INVALID_CONFIG',
    /optimizer/,
    /cannot be trained/,
  );
  expectThrows(
    () =>
      new EmbeddingBagCollection({
        tables: [{ name: 't', num_embeddings: 4, embedding_dim: 8, data_type: 'int8' }],
        optimizer: { init_learning_rate: 0.1 },
      }),
    'ERR_INVALID_CONFIG',
    /"t"/,
    /cannot be trained/,
  );
  const direct = new EmbeddingBagCollection({
    tables: [{ name: 't', num_embeddings: 4, embedding_dim: 8, data_type: 'int8' }],
  });
  expect(direct.mode).toBe(Mode.INFERENCE);
  expectThrows(() => direct.setMode(Mode.TRAIN), 'ERR_INVALID_MODE', /"t"/, /quantized/);
  direct.setMode(Mode.EVALUATE);
  const k = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1, 2], lengths: [2] });
  await expect(direct.backward(k, new Float32Array(8))).rejects.toMatchObject({ code: 'ERR_INVALID_MODE' });
  expect((await direct.forward(k)).values()).toHaveLength(8);
  direct.dispose();
});

test('setWeights on an int table: float32 quantizes, stored rows are taken as they are, bad input is named', async () => {
  const q = new EmbeddingBagCollection({
    tables: [{ name: 't', num_embeddings: 2, embedding_dim: 4, data_type: 'int4' }],
    seed: 1,
  });
  q.setWeights('t', Float32Array.from([0, 1, 2, 3, -1, -1, -1, -1]));
  // row 0: bias 0, scale 3/15 = 0.2 (fp16 0.199951...), codes 0, 5, 10, 15
  const w = q.getWeights('t');
  expect(w[7]).toBe(-1);
  expect(Math.abs(w[3] - 3)).toBeLessThan(1e-3);
  const stored = (await q.exportState(['t'])).tables.t.weight as Uint8Array;
  expect(stored).toBeInstanceOf(Uint8Array);
  expect(stored.length).toBe(2 * 6);
  const other = new EmbeddingBagCollection({
    tables: [{ name: 't', num_embeddings: 2, embedding_dim: 4, data_type: 'int4' }],
    seed: 2,
  });
  other.setWeights('t', stored);
  expect(other.getWeights('t')).toEqual(w);
  expectThrows(() => other.setWeights('t', new Uint8Array(11)), 'ERR_SHAPE', /"t"/, /12/);
  expectThrows(() => other.setWeights('t', new Uint16Array(8)), 'ERR_DTYPE', /"t"/);
  expectThrows(() => other.setWeights('t', Float32Array.from([0, NaN, 0, 0, 0, 0, 0, 0])), 'ERR_NON_FINITE', /row 0/);
  q.dispose();
  other.dispose();
});
