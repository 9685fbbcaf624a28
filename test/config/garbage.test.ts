/**
 * Whatever is passed to a constructor, the only thing that may come out is ERR_INVALID_CONFIG:
 * never a TypeError from reading a property of null, and never a value smuggled in through a
 * prototype.
 */
import {
  EmbeddingBagConfig,
  EmbeddingOptimizerConfig,
  EmbeddingSnapshot,
  LargeEmbeddingsConfig,
  LearningRate,
  OptimizerConfig,
  SmallEmbeddingBagConfig,
  SmallEmbeddingsConfig,
  StratifierConfig,
} from '../../lib/config';
import { configError, expectIssue } from '../helpers/errors';

const CLASSES: [string, new (raw: unknown) => object][] = [
  ['EmbeddingSnapshot', EmbeddingSnapshot],
  ['EmbeddingBagConfig', EmbeddingBagConfig],
  ['LargeEmbeddingsConfig', LargeEmbeddingsConfig],
  ['OptimizerConfig', OptimizerConfig],
  ['LearningRate', LearningRate],
  ['EmbeddingOptimizerConfig', EmbeddingOptimizerConfig],
  ['StratifierConfig', StratifierConfig],
  ['SmallEmbeddingBagConfig', SmallEmbeddingBagConfig],
  ['SmallEmbeddingsConfig', SmallEmbeddingsConfig],
];

const NOT_OBJECTS: [string, unknown, string][] = [
  ['null', null, 'got null'],
  ['undefined', undefined, 'got nothing'],
  ['a number', 42, 'got 42'],
  ['a string', 'x', 'got "x"'],
  ['an array', [], 'got an array'],
  ['a function', () => ({ name: 't' }), 'got a function'],
  ['a boolean', true, 'got true'],
  ['a symbol', Symbol('s'), 'got a symbol'],
  ['a bigint', 10n, 'got 10n'],
  ['a Date', new Date(0), 'got an object'],
  ['a Map', new Map([['name', 't']]), 'got an object'],
];

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

const HOSTILE: [string, () => unknown][] = [
  ['a null-prototype object', () => Object.create(null)],
  [
    'fields only on the prototype',
    () => Object.create({ name: 't', num_embeddings: 1, embedding_dim: 1, constant: 1 }),
  ],
  ['a __proto__ literal', () => ({ __proto__: { name: 't', tables: [] } })],
  ['a JSON "__proto__" key', () => JSON.parse('{"__proto__": {"name": "t"}}')],
  ['a constructor key', () => ({ constructor: 1 })],
  ['a toString key', () => ({ toString: 'x', valueOf: 1 })],
  [
    'a throwing getter',
    () =>
      Object.defineProperty({}, 'name', {
        enumerable: true,
        get: () => {
          throw new RangeError('boom');
        },
      }),
  ],
  ['a revoked proxy', revokedProxy],
  [
    'a proxy with throwing traps',
    () =>
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error('nope');
          },
        },
      ),
  ],
  ['a fake toStringTag', () => ({ [Symbol.toStringTag]: 'Object', name: 1 })],
];

describe.each(CLASSES)('%s on garbage', (_name, Cls) => {
  it.each(NOT_OBJECTS)('rejects %s with a clear message', (_label, raw, fragment) => {
    expectIssue(() => new Cls(raw), '', `must be an object, ${fragment}`);
  });

  it.each(HOSTILE)('rejects %s with ERR_INVALID_CONFIG only', (_label, make) => {
    const err = configError(() => new Cls(make()));
    expect(err.issues.length).toBeGreaterThan(0);
  });
});

describe('hostile inputs', () => {
  it('ignores fields that exist only on the prototype', () => {
    const raw = Object.create({ name: 't', num_embeddings: 1, embedding_dim: 1 });
    const err = configError(() => new EmbeddingBagConfig(raw));
    expect(err.issues.map((i) => i.path)).toEqual(['name', 'num_embeddings', 'embedding_dim']);
  });

  it('reports an own "__proto__" key as unknown and leaves Object.prototype alone', () => {
    const raw = JSON.parse('{"name": "t", "num_embeddings": 1, "embedding_dim": 1, "__proto__": {"polluted": 1}}');
    expectIssue(() => new EmbeddingBagConfig(raw), '__proto__', 'unknown field');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('turns an exception from a getter into an issue', () => {
    const raw = Object.defineProperty({}, 'constant', {
      enumerable: true,
      get: () => {
        throw new RangeError('boom');
      },
    });
    expectIssue(() => new LearningRate(raw), '', 'could not be read: boom');
  });

  it('accepts a null-prototype object carrying valid fields', () => {
    const raw = Object.assign(Object.create(null), { name: 't', num_embeddings: 2, embedding_dim: 3 });
    expect(new EmbeddingBagConfig(raw).embedding_dim).toBe(3);
  });

  it('quotes odd keys in paths', () => {
    expectIssue(() => new LearningRate({ constant: 1, 'a b': 1 }), '["a b"]', 'unknown field');
  });

  it('rejects garbage nested at every level with its path', () => {
    const err = configError(
      () =>
        new LargeEmbeddingsConfig({
          tables: [42, { name: 't', num_embeddings: 1, embedding_dim: 1, optimizer: 'sgd', pretrained: [] }],
          tables_to_log: [null],
          optimizer: () => 1,
        }),
    );
    expect(err.issues.map((i) => i.path)).toEqual([
      'tables[0]',
      'tables[1].optimizer',
      'tables[1].pretrained',
      'tables_to_log[0]',
      'optimizer',
    ]);
  });

  it('caps a huge message but keeps every issue on the error', () => {
    const tables = Array.from({ length: 80 }, () => ({ name: 't', num_embeddings: 0, embedding_dim: 1 }));
    const err = configError(() => new LargeEmbeddingsConfig({ tables }));
    expect(err.issues.length).toBe(80 + 79);
    expect(err.message).toContain('... and 109 more');
  });
});
