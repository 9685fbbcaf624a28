import { didYouMean, hint, editDistance } from '../../lib/config/suggest';

describe('editDistance', () => {
  it.each([
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['name', 'name', 0],
    ['nmae', 'name', 1],
    ['sdg', 'sgd', 1],
    ['ca', 'abc', 3],
    ['lr', 'lrr', 1],
  ])('%p -> %p is %p', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});

describe('didYouMean', () => {
  const fields = ['name', 'num_embeddings', 'embedding_dim', 'lr'];

  it('prefers a case-insensitive match', () => {
    expect(didYouMean('EMBEDDING_DIM', fields)).toBe('embedding_dim');
  });

  it('finds near misses', () => {
    expect(didYouMean('nmae', fields)).toBe('name');
    expect(didYouMean('num_embedding', fields)).toBe('num_embeddings');
  });

  it('does not guess for short or distant words', () => {
    expect(didYouMean('x', fields)).toBeUndefined();
    expect(didYouMean('pooling', fields)).toBeUndefined();
    expect(hint('zzzz', fields)).toBe('');
  });
});
