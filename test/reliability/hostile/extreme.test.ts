/**
 * Extreme sizes and names through the public API: tables whose byte count overflows, outputs past
 * one buffer, and a feature named __proto__.
 */
import { EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor } from '../../../lib';
import { nativeTableSpec } from '../../../lib/native_spec';
import { expectForwardFails, expectThrows } from '../../helpers/errors';
import { expectRefused, hostile } from './helpers';

describe('table sizes', () => {
  test('2^40+1 rows x 2^22 dims is refused by config validation (it segfaulted the constructor)', () => {
    const huge = { name: 'huge', num_embeddings: 2 ** 40 + 1, embedding_dim: 2 ** 22 };
    expectThrows(
      () => new EmbeddingBagConfig(huge),
      'ERR_INVALID_CONFIG',
      'table "huge": cannot allocate 1099511627777 x 4194304',
    );
    expectThrows(
      () => new EmbeddingBagCollection({ tables: [huge] }),
      'ERR_INVALID_CONFIG',
      'tables[0].num_embeddings',
    );
  });

  test('the core checks the byte count on its own: an overflowing spec is an error, not a wrapped mapping', async () => {
    const cfg = new EmbeddingBagConfig({ name: 'huge', num_embeddings: 8, embedding_dim: 4 });
    const spec = { ...nativeTableSpec(cfg), numEmbeddings: 2 ** 40 + 1, embeddingDim: 2 ** 22, optimizer: null };
    expectRefused(await hostile({ op: 'nativeConstruct', specs: [spec] }), 'ERR_INVALID_CONFIG', 'overflows 64 bits');
  });

  test('a table that passes validation but cannot be mapped (8 PiB) is a clear error', async () => {
    const tables = [{ name: 'vast', num_embeddings: 2 ** 41, embedding_dim: 2 ** 10 }];
    expectRefused(await hostile({ op: 'pretrained', tables }), 'ERR_OUT_OF_MEMORY', 'cannot allocate', 'vast');
  });
});

describe('outputs', () => {
  test('a forward whose output would exceed one buffer is ERR_SHAPE before the native call', async () => {
    const ebc = new EmbeddingBagCollection({ tables: [{ name: 'wide', num_embeddings: 2, embedding_dim: 65536 }] });
    const batch = 16385; // 16385 x 65536 float32 = 4 GiB + 256 KiB
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['wide'], values: [], lengths: new Int32Array(batch) });
    await expectForwardFails(ebc, kjt, 'ERR_SHAPE', '[16385][65536]', 'split the batch');
    ebc.dispose();
  });

  test('KeyedTensor.toDict with a feature named __proto__ makes it a key, not the prototype', () => {
    const ebc = new EmbeddingBagCollection({
      tables: [{ name: 't', num_embeddings: 3, embedding_dim: 2, feature_names: ['__proto__', 'b'] }],
    });
    const kt = ebc.forwardSync(
      KeyedJaggedTensor.fromLengths({ keys: ['__proto__', 'b'], values: [0, 1], lengths: [1, 1] }),
    );
    const d = kt.toDict();
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(Object.keys(d)).toEqual(['__proto__', 'b']);
    expect(Object.prototype.hasOwnProperty.call(d, '__proto__')).toBe(true);
    expect(Array.from(d['__proto__'])).toEqual(Array.from(ebc.getWeights('t').subarray(0, 2)));
    ebc.dispose();
  });
});
