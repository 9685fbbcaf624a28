import { DataType, PoolingType } from '../../lib/enums';
import {
  EmbeddingBagConfig,
  EmbeddingOptimizerConfig,
  EmbeddingSnapshot,
  LargeEmbeddingsConfig,
  LearningRate,
  OptimizerConfig,
} from '../../lib/config';
import { configError, expectIssue } from '../helpers/errors';

const base = { name: 't', num_embeddings: 100, embedding_dim: 4 };

describe('EmbeddingBagConfig defaults', () => {
  it('fills TorchRec and the-algorithm-ml defaults', () => {
    const cfg = new EmbeddingBagConfig(base);
    expect(cfg).toBeInstanceOf(EmbeddingBagConfig);
    expect(cfg.data_type).toBe(DataType.FP32);
    expect(cfg.pooling).toBe(PoolingType.SUM);
    expect(cfg.feature_names).toEqual(['t']);
    expect(cfg.weight_init_min).toBe(-0.1);
    expect(cfg.weight_init_max).toBe(0.1);
    expect('optimizer' in cfg).toBe(false);
    expect('vocab' in cfg).toBe(false);
  });

  it('turns an empty feature_names into [name], as the EBC does', () => {
    expect(new EmbeddingBagConfig({ ...base, feature_names: [] }).feature_names).toEqual(['t']);
  });

  it('keeps given feature names and does not alias the input array', () => {
    const names = ['a', 'b'];
    const cfg = new EmbeddingBagConfig({ ...base, feature_names: names });
    names.push('c');
    expect(cfg.feature_names).toEqual(['a', 'b']);
  });

  it.each([
    ['fp32', DataType.FP32],
    ['FP32', DataType.FP32],
    ['Fp16', DataType.FP16],
    [DataType.FP16, DataType.FP16],
  ])('normalizes data_type %p', (input, expected) => {
    expect(new EmbeddingBagConfig({ ...base, data_type: input }).data_type).toBe(expected);
  });

  it.each([
    ['sum', PoolingType.SUM],
    ['MEAN', PoolingType.MEAN],
    ['Mean', PoolingType.MEAN],
  ])('normalizes pooling %p', (input, expected) => {
    expect(new EmbeddingBagConfig({ ...base, pooling: input }).pooling).toBe(expected);
  });

  it('keeps explicit weight_init bounds, and fills only the missing one', () => {
    const both = new EmbeddingBagConfig({ ...base, weight_init_min: -1, weight_init_max: 2 });
    expect([both.weight_init_min, both.weight_init_max]).toEqual([-1, 2]);
    const onlyMax = new EmbeddingBagConfig({ ...base, weight_init_max: 5 });
    expect([onlyMax.weight_init_min, onlyMax.weight_init_max]).toEqual([-0.1, 5]);
  });

  it('accepts a TorchRec-style JSON table', () => {
    const cfg = new EmbeddingBagConfig({
      name: 'user_id',
      num_embeddings: 6,
      embedding_dim: 4,
      feature_names: [],
      pooling: 'SUM',
      data_type: 'FP32',
    });
    expect(cfg.feature_names).toEqual(['user_id']);
    expect(cfg.data_type).toBe(DataType.FP32);
  });

  it('treats null optional fields as absent, like pydantic', () => {
    const cfg = new EmbeddingBagConfig({ ...base, vocab: null, optimizer: null, pooling: null });
    expect('vocab' in cfg).toBe(false);
    expect(cfg.pooling).toBe(PoolingType.SUM);
  });

  it('builds nested instances and is idempotent on its own output', () => {
    const raw = {
      ...base,
      optimizer: { sgd: { lr: 0.1 }, learning_rate: { constant: 0.1 } },
      pretrained: { emb_name: 'u', embedding_snapshot_uri: 'gs://x' },
    };
    const cfg = new EmbeddingBagConfig(raw);
    expect(cfg.optimizer).toBeInstanceOf(OptimizerConfig);
    expect(cfg.optimizer?.learning_rate).toBeInstanceOf(LearningRate);
    expect(cfg.pretrained).toBeInstanceOf(EmbeddingSnapshot);
    const again = new EmbeddingBagConfig(cfg);
    expect(again).toEqual(cfg);
    expect(new EmbeddingBagConfig(JSON.parse(JSON.stringify(cfg)))).toEqual(cfg);
  });
});

describe('EmbeddingBagConfig rejections', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['zero num_embeddings', { ...base, num_embeddings: 0 }, 'num_embeddings', 'must be a positive integer, got 0'],
    ['fractional num_embeddings', { ...base, num_embeddings: 1.5 }, 'num_embeddings', 'got 1.5'],
    ['string num_embeddings', { ...base, num_embeddings: '10' }, 'num_embeddings', 'got "10"'],
    ['NaN embedding_dim', { ...base, embedding_dim: NaN }, 'embedding_dim', 'got NaN'],
    ['infinite embedding_dim', { ...base, embedding_dim: Infinity }, 'embedding_dim', 'got Infinity'],
    ['negative embedding_dim', { ...base, embedding_dim: -3 }, 'embedding_dim', 'must be a positive integer, got -3'],
    ['empty name', { ...base, name: '' }, 'name', 'must be a non-empty string'],
    ['blank name', { ...base, name: '  ' }, 'name', 'must be a non-empty string'],
    ['numeric name', { ...base, name: 42 }, 'name', 'got 42'],
    ['missing name', { num_embeddings: 3, embedding_dim: 2 }, 'name', 'is required'],
    ['null name', { ...base, name: null }, 'name', 'is required, got null'],
    ['misspelled field', { ...base, nmae: 'x' }, 'nmae', 'unknown field (did you mean "name"?)'],
    ['wrong-case field', { ...base, Embedding_Dim: 4 }, 'Embedding_Dim', 'did you mean "embedding_dim"?'],
    ['unrelated field', { ...base, colour: 'red' }, 'colour', 'unknown field'],
    ['unknown data_type', { ...base, data_type: 'fp64' }, 'data_type', 'must be one of "fp32", "fp16"'],
    ['numeric data_type', { ...base, data_type: 32 }, 'data_type', 'got 32'],
    ['unsupported pooling', { ...base, pooling: 'NONE' }, 'pooling', 'must be one of "SUM", "MEAN"'],
    ['string feature_names', { ...base, feature_names: 'f' }, 'feature_names', 'must be an array'],
    ['duplicate feature', { ...base, feature_names: ['a', 'a'] }, 'feature_names[1]', 'duplicate feature name "a"'],
    ['empty feature', { ...base, feature_names: ['a', ''] }, 'feature_names[1]', 'must be a non-empty string'],
    [
      'min above max',
      { ...base, weight_init_min: 0.5, weight_init_max: 0.1 },
      'weight_init_min',
      'must not exceed weight_init_max',
    ],
    ['min above default max', { ...base, weight_init_min: 0.5 }, 'weight_init_min', '(0.5 > 0.1)'],
    ['string weight_init_max', { ...base, weight_init_max: 'x' }, 'weight_init_max', 'must be a finite number'],
    ['numeric vocab', { ...base, vocab: 5 }, 'vocab', 'must be a non-empty string'],
    [
      'incomplete snapshot',
      { ...base, pretrained: { emb_name: 'u' } },
      'pretrained.embedding_snapshot_uri',
      'is required',
    ],
    ['empty optimizer', { ...base, optimizer: {} }, 'optimizer', 'none was set'],
    ['array optimizer', { ...base, optimizer: [] }, 'optimizer', 'must be an object, got an array'],
  ];

  it.each(cases)('rejects %s', (_label, raw, path, fragment) => {
    expectIssue(() => new EmbeddingBagConfig(raw), path, fragment);
  });

  it('reports every bad field in one error', () => {
    const err = configError(
      () => new EmbeddingBagConfig({ name: '', num_embeddings: -1, embedding_dim: 'x', poolin: 'SUM' }),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual(['embedding_dim', 'name', 'num_embeddings', 'poolin']);
    expect(err.message).toContain('poolin: unknown field (did you mean "pooling"?)');
  });
});

describe('LargeEmbeddingsConfig', () => {
  const user = { name: 'user', num_embeddings: 10, embedding_dim: 4 };
  const tweet = { name: 'tweet', num_embeddings: 20, embedding_dim: 4 };

  it('builds table instances and keeps tables_to_log and optimizer', () => {
    const cfg = new LargeEmbeddingsConfig({
      tables: [user, tweet],
      tables_to_log: ['tweet'],
      optimizer: { init_learning_rate: 0.5, learning_rate: { constant: 0.5 } },
    });
    expect(cfg.tables.map((t) => t.name)).toEqual(['user', 'tweet']);
    expect(cfg.tables[1]).toBeInstanceOf(EmbeddingBagConfig);
    expect(cfg.tables_to_log).toEqual(['tweet']);
    expect(cfg.optimizer).toBeInstanceOf(EmbeddingOptimizerConfig);
    expect(cfg.optimizer?.init_learning_rate).toBe(0.5);
    expect(new LargeEmbeddingsConfig(cfg)).toEqual(cfg);
  });

  it('lets two tables read the same feature (TorchRec renames it per table)', () => {
    const cfg = new LargeEmbeddingsConfig({
      tables: [
        { ...user, feature_names: ['f'] },
        { ...tweet, feature_names: ['f'] },
      ],
    });
    expect(cfg.tables.map((t) => t.feature_names)).toEqual([['f'], ['f']]);
  });

  it('names every bad table field with its index', () => {
    const err = configError(
      () =>
        new LargeEmbeddingsConfig({
          tables: [
            { ...user, nmae: 'x' },
            { ...tweet, embedding_dim: -3 },
          ],
        }),
    );
    expect(err.message).toContain('tables[1].embedding_dim: must be a positive integer, got -3');
    expect(err.message).toContain('tables[0].nmae: unknown field (did you mean "name"?)');
    expect(err.issues).toHaveLength(2);
  });

  const cases: [string, unknown, string, string][] = [
    [
      'duplicate table names',
      {
        tables: [
          { ...user, name: 't' },
          { ...tweet, name: 't' },
        ],
      },
      'tables[1].name',
      'duplicate table name "t"',
    ],
    [
      'unknown table to log',
      { tables: [user, tweet], tables_to_log: ['usr'] },
      'tables_to_log[0]',
      'no table named "usr" (did you mean "user"?)',
    ],
    ['missing tables', {}, 'tables', 'is required'],
    ['empty tables', { tables: [] }, 'tables', 'must contain at least one table'],
    ['tables not a list', { tables: user }, 'tables', 'must be an array, got an object'],
    ['null table entry', { tables: [user, null] }, 'tables[1]', 'must be an object, got null'],
    [
      'optimizer without init rate',
      { tables: [user], optimizer: { learning_rate: { constant: 1 } } },
      'optimizer.init_learning_rate',
      'is required',
    ],
    [
      'negative init rate',
      { tables: [user], optimizer: { init_learning_rate: -1 } },
      'optimizer.init_learning_rate',
      'got -1',
    ],
    [
      'misspelled top-level field',
      { tables: [user], table_to_log: [] },
      'table_to_log',
      'did you mean "tables_to_log"?',
    ],
  ];

  it.each(cases)('rejects %s', (_label, raw, path, fragment) => {
    expectIssue(() => new LargeEmbeddingsConfig(raw), path, fragment);
  });

  it('still checks names of tables that have other problems', () => {
    const err = configError(
      () => new LargeEmbeddingsConfig({ tables: [{ ...user, embedding_dim: 0 }, user], tables_to_log: ['user'] }),
    );
    expect(err.issues.map((i) => i.path)).toEqual(['tables[0].embedding_dim', 'tables[1].name']);
  });
});

describe('EmbeddingSnapshot', () => {
  it('accepts both fields', () => {
    const snap = new EmbeddingSnapshot({ emb_name: 'user', embedding_snapshot_uri: '/snap' });
    expect([snap.emb_name, snap.embedding_snapshot_uri]).toEqual(['user', '/snap']);
  });

  it('requires both fields', () => {
    const err = configError(() => new EmbeddingSnapshot({}));
    expect(err.issues.map((i) => i.path)).toEqual(['emb_name', 'embedding_snapshot_uri']);
  });
});
