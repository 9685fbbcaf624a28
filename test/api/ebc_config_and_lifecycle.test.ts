/**
 * Garbage where a config should be, devices this build lacks, setWeights/getWeights misuse, and
 * every method after dispose(): each one TorchrecError with a stable code and a message that
 * names the field, table or method.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings } from '../../lib';
import { expectForwardFails, expectRejects, expectThrows } from '../helpers/errors';
import { patternEbc, SMALL_TABLES } from '../helpers/reliability';

const TABLE = { name: 't', num_embeddings: 10, embedding_dim: 4 };
const build = (o: unknown) => () => new EmbeddingBagCollection(o as never);

describe('new EmbeddingBagCollection(garbage) is ERR_INVALID_CONFIG', () => {
  test.each([
    ['null', null, 'must be an object, got null'],
    ['undefined', undefined, 'must be an object, got nothing'],
    ['42', 42, 'must be an object, got 42'],
    ["'x'", 'x', 'must be an object, got "x"'],
    ['[]', [], 'must be an object, got an array'],
    ['{}', {}, 'tables: is required'],
    ["{ tables: 'x' }", { tables: 'x' }, 'tables: must be an array, got "x"'],
    ['{ tables: [] }', { tables: [] }, 'tables: must contain at least one table'],
    ['{ tables: [null] }', { tables: [null] }, 'tables[0]: must be an object, got null'],
    ['{ tables: [42] }', { tables: [42] }, 'tables[0]: must be an object'],
  ])('%s', (_n, o, fragment) => {
    expectThrows(build(o), 'ERR_INVALID_CONFIG', fragment);
  });

  test('{ tables: [{}] } names every missing field', () => {
    expectThrows(
      build({ tables: [{}] }),
      'ERR_INVALID_CONFIG',
      'tables[0].name: is required',
      'tables[0].num_embeddings: is required',
      'tables[0].embedding_dim: is required',
    );
  });

  test.each([
    ['num_embeddings', 0, 'tables[0].num_embeddings: must be a positive integer'],
    ['num_embeddings', -3, 'tables[0].num_embeddings'],
    ['num_embeddings', 1.5, 'tables[0].num_embeddings'],
    ['num_embeddings', '10', 'tables[0].num_embeddings'],
    ['num_embeddings', 2 ** 53, 'tables[0].num_embeddings'],
    ['embedding_dim', NaN, 'tables[0].embedding_dim'],
    ['embedding_dim', Infinity, 'tables[0].embedding_dim'],
    ['data_type', 'fp64', 'tables[0].data_type'],
    ['pooling', 'MAX', 'tables[0].pooling'],
    ['feature_names', 'f', 'tables[0].feature_names'],
    ['feature_names', ['f', 'f'], 'tables[0].feature_names[1]: duplicate feature name "f"'],
    ['weight_init_min', 1, 'tables[0].weight_init_min: must not exceed weight_init_max'],
  ])('tables[0].%s = %p', (field, value, fragment) => {
    expectThrows(build({ tables: [{ ...TABLE, [field]: value }] }), 'ERR_INVALID_CONFIG', fragment);
  });

  test.each([
    ['isWeighted', 'yes', 'isWeighted: must be a boolean'],
    ['seed', -1, 'seed: must be a non-negative integer'],
    ['seed', 0.5, 'seed'],
    ['device', 42, 'device: must be a string'],
  ])('option %s = %p', (field, value, fragment) => {
    expectThrows(build({ tables: [TABLE], [field]: value }), 'ERR_INVALID_CONFIG', fragment);
  });

  test('unknown option and table fields are rejected with a did-you-mean', () => {
    expectThrows(
      build({ tables: [TABLE], isWieghted: true }),
      'ERR_INVALID_CONFIG',
      'isWieghted: unknown field (did you mean "isWeighted"?)',
    );
    expectThrows(build({ table: [TABLE] }), 'ERR_INVALID_CONFIG', 'table: unknown field (did you mean "tables"?)');
    expectThrows(
      build({ tables: [{ ...TABLE, num_embedings: 3 }] }),
      'ERR_INVALID_CONFIG',
      'tables[0].num_embedings: unknown field (did you mean "num_embeddings"?)',
    );
    const e = expectThrows(
      build({ tables: [TABLE], frobnicate: 1 }),
      'ERR_INVALID_CONFIG',
      'frobnicate: unknown field',
    );
    expect(e.message).not.toContain('did you mean');
  });

  test('duplicate table names and weighted MEAN tables are rejected before any allocation', () => {
    expectThrows(build({ tables: [TABLE, TABLE] }), 'ERR_INVALID_CONFIG', 'tables[1].name: duplicate table name "t"');
    expectThrows(
      build({ tables: [{ ...TABLE, pooling: 'MEAN' }], isWeighted: true }),
      'ERR_INVALID_CONFIG',
      'tables[0].pooling',
    );
  });

  test('a table too large to allocate is ERR_OUT_OF_MEMORY naming it, and nothing is left behind', () => {
    expectThrows(
      // 2^36 x 1024 fp32 = 256 TiB: a valid config that no machine here can hold.
      build({ tables: [TABLE, { name: 'huge', num_embeddings: 2 ** 36, embedding_dim: 1024 }] }),
      'ERR_OUT_OF_MEMORY',
      'table "huge": cannot allocate',
    );
    expect(patternEbc([TABLE]).outputKeys()).toEqual(['t']);
  });
});

describe('devices', () => {
  test.each(['cuda', 'cuda:0', 'cuda:3'])("device '%s' on this CPU-only build is ERR_DEVICE", (device) => {
    expectThrows(build({ tables: [TABLE], device }), 'ERR_DEVICE', `device "${device}"`, 'no CUDA support');
    expectThrows(() => new LargeEmbeddings({ tables: [TABLE] }, { device }), 'ERR_DEVICE', 'no CUDA support');
  });

  test.each(['tpu', 'CUDA', 'cuda:x', ''])("unknown device '%s' is ERR_DEVICE", (device) => {
    expectThrows(build({ tables: [TABLE], device }), 'ERR_DEVICE', `device "${device}"`);
  });

  test("'cpu' is the default and works", () => {
    const ebc = new EmbeddingBagCollection({ tables: [TABLE], device: 'cpu' });
    expect(ebc.device).toBe('cpu');
    ebc.dispose();
  });
});

describe('getWeights / setWeights misuse', () => {
  const ebc = patternEbc(SMALL_TABLES);
  afterAll(() => ebc.dispose());

  test.each([0, 39, 41, 10 * 4 * 2])('setWeights with %i values for a 10 x 4 table is ERR_SHAPE', (n) => {
    expectThrows(
      () => ebc.setWeights('user', new Float32Array(n)),
      'ERR_SHAPE',
      'setWeights("user")',
      `got ${n} values`,
      '10 x 4 = 40',
    );
  });

  test('setWeights with the wrong array type is ERR_DTYPE; a number[] of the right length works', () => {
    expectThrows(
      () => ebc.setWeights('user', new Float64Array(40) as never),
      'ERR_DTYPE',
      'Float32Array',
      'Float64Array',
    );
    expectThrows(() => ebc.setWeights('user', null as never), 'ERR_DTYPE', 'Float32Array');
    ebc.setWeights(
      'item',
      Array.from({ length: 21 }, (_, i) => i),
    );
    expect(Array.from(ebc.getWeights('item'))).toEqual(Array.from({ length: 21 }, (_, i) => i));
  });

  test('unknown table names are ERR_INVALID_ARGUMENT naming the table and listing the known ones', () => {
    expectThrows(() => ebc.getWeights('usr'), 'ERR_INVALID_ARGUMENT', 'no table named "usr"', 'user, item');
    expectThrows(() => ebc.setWeights('nope', new Float32Array(40)), 'ERR_INVALID_ARGUMENT', 'no table named "nope"');
    expectThrows(() => ebc.getWeights(42 as never), 'ERR_INVALID_ARGUMENT', 'table must be a string');
  });

  test('a failed setWeights leaves the table unchanged', () => {
    const before = ebc.getWeights('user');
    expect(() => ebc.setWeights('user', new Float32Array(39).fill(9))).toThrow();
    expect(ebc.getWeights('user')).toEqual(before);
  });
});

describe('after dispose()', () => {
  const kjt = () =>
    KeyedJaggedTensor.fromLengths({ keys: ['u1', 'u2', 'item'], values: [1, 2, 3], lengths: [1, 1, 1] });

  test('every method that reaches the tables is ERR_DISPOSED naming the method', async () => {
    const ebc = patternEbc(SMALL_TABLES);
    ebc.dispose();
    await expectForwardFails(ebc, kjt(), 'ERR_DISPOSED', 'disposed EmbeddingBagCollection');
    await expectRejects(ebc.forward(kjt()), 'ERR_DISPOSED', 'forward()');
    expectThrows(() => ebc.forwardSync(kjt()), 'ERR_DISPOSED', 'forwardSync()');
    expectThrows(() => ebc.getWeights('user'), 'ERR_DISPOSED', 'getWeights()');
    expectThrows(() => ebc.setWeights('user', new Float32Array(40)), 'ERR_DISPOSED', 'setWeights()');
    await expectRejects(ebc.backward(kjt(), new Float32Array(22)), 'ERR_DISPOSED', 'backward()');
    expectThrows(() => ebc.optimizerState('user'), 'ERR_DISPOSED', 'optimizerState()');
    expectThrows(
      () => ebc.setOptimizerState('user', 'momentum1', new Float32Array(40)),
      'ERR_DISPOSED',
      'setOptimizerState()',
    );
    await expectRejects(ebc.tableNorms(['user']), 'ERR_DISPOSED', 'tableNorms()');
    // Even bad arguments report the disposal first, not the argument.
    expectThrows(() => ebc.getWeights('nope'), 'ERR_DISPOSED', 'getWeights()');
    await expectForwardFails(ebc, null, 'ERR_DISPOSED');
  });

  test('dispose() twice is harmless; LargeEmbeddings forwards report the disposed ebc', async () => {
    const le = new LargeEmbeddings({ tables: [{ name: 'u1', num_embeddings: 10, embedding_dim: 4 }] }, { seed: 1 });
    le.ebc.dispose();
    expect(() => le.ebc.dispose()).not.toThrow();
    const k = KeyedJaggedTensor.fromLengths({ keys: ['u1'], values: [1], lengths: [1] });
    await expectRejects(le.forward(k), 'ERR_DISPOSED', 'forward()');
  });

  test('forwards started before dispose() finish with the right result', async () => {
    const ebc = patternEbc(SMALL_TABLES);
    const expected = ebc.forwardSync(kjt()).values();
    const pending = Array.from({ length: 20 }, () => ebc.forward(kjt()));
    ebc.dispose();
    for (const kt of await Promise.all(pending)) expect(kt.values()).toEqual(expected);
  });

  // outputKeys() answers from a JS-side copy, yet dispose() promises that any later call is ERR_DISPOSED.
  test('outputKeys() is ERR_DISPOSED', () => {
    const ebc = patternEbc(SMALL_TABLES);
    ebc.dispose();
    expectThrows(() => ebc.outputKeys(), 'ERR_DISPOSED', 'outputKeys()');
  });
});
