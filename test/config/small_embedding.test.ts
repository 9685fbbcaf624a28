import { SmallEmbeddingBagConfig, SmallEmbeddingsConfig, StratifierConfig } from '../../lib/config';
import { configError, expectIssue } from '../helpers/errors';

const bag = { name: 'country', num_embeddings: 250, embedding_dim: 8, index: 3 };

describe('StratifierConfig', () => {
  it('accepts index 0 and a negative value', () => {
    const s = new StratifierConfig({ name: 'is_us', index: 0, value: -1 });
    expect([s.name, s.index, s.value]).toEqual(['is_us', 0, -1]);
  });

  it.each([
    [{ name: 's', index: -1, value: 1 }, 'index', 'must be a non-negative integer, got -1'],
    [{ name: 's', index: 0, value: 1.5 }, 'value', 'must be an integer, got 1.5'],
    [{ name: 's', index: 0 }, 'value', 'is required'],
    [{ name: 's', index: 0, value: 1, vaule: 2 }, 'vaule', 'did you mean "value"?'],
  ])('rejects %p', (raw, path, fragment) => {
    expectIssue(() => new StratifierConfig(raw), path, fragment);
  });
});

describe('SmallEmbeddingBagConfig', () => {
  it('keeps all four fields', () => {
    expect({ ...new SmallEmbeddingBagConfig(bag) }).toEqual(bag);
  });

  it.each([
    [{ ...bag, index: -1 }, 'index', 'must be a non-negative integer'],
    [{ ...bag, index: 0.5 }, 'index', 'got 0.5'],
    [{ ...bag, num_embeddings: 0 }, 'num_embeddings', 'must be a positive integer'],
    [{ ...bag, data_type: 'fp32' }, 'data_type', 'unknown field'],
  ])('rejects %p', (raw, path, fragment) => {
    expectIssue(() => new SmallEmbeddingBagConfig(raw), path, fragment);
  });
});

describe('SmallEmbeddingsConfig', () => {
  it('builds table instances', () => {
    const cfg = new SmallEmbeddingsConfig({ tables: [bag, { ...bag, name: 'lang', index: 4 }] });
    expect(cfg.tables[1]).toBeInstanceOf(SmallEmbeddingBagConfig);
    expect(cfg.tables.map((t) => t.index)).toEqual([3, 4]);
    expect(new SmallEmbeddingsConfig(cfg)).toEqual(cfg);
  });

  it('rejects duplicate names and bad tables in one error', () => {
    const err = configError(
      () => new SmallEmbeddingsConfig({ tables: [bag, bag, { ...bag, name: 'x', embedding_dim: 0 }] }),
    );
    expect(err.message).toContain('tables[1].name: duplicate table name "country"');
    expect(err.message).toContain('tables[2].embedding_dim: must be a positive integer, got 0');
  });
});
