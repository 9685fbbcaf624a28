import { auc, mrr, pick, stratified, StratifierConfig, TorchrecError } from '../../lib';

describe('auc', () => {
  it('counts the positive-above-negative pairs, ties one half', () => {
    // Pairs (pos, neg): 0.8>0.3, 0.8>0.5, 0.4>0.3, 0.4<0.5, and the tie 0.5=0.5 counts 1/2 for each.
    // Positives 0.8, 0.4, 0.5 vs negatives 0.3, 0.5: 2 + 1 + (1 + 0.5) = 4.5 of 6.
    expect(auc([0.8, 0.3, 0.4, 0.5, 0.5], [1, 0, 1, 0, 1])).toBeCloseTo(4.5 / 6, 12);
  });

  it('is 1 for a perfect ranking, 0 for a reversed one, NaN with one class', () => {
    expect(auc([3, 2, 1], [1, 1, 0])).toBe(1);
    expect(auc([1, 2, 3], [1, 1, 0])).toBe(0);
    expect(auc([1, 2], [1, 1])).toBeNaN();
  });

  it('weights pairs by the product of row weights', () => {
    // Pairs: (0.9 vs 0.5) weight 2*1 correct, (0.1 vs 0.5) weight 1*1 wrong: 2 / 3.
    expect(auc([0.9, 0.1, 0.5], [1, 1, 0], [2, 1, 1])).toBeCloseTo(2 / 3, 12);
  });

  it('rejects mismatched lengths', () => {
    expect(() => auc([1, 2], [1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});

describe('mrr', () => {
  it('averages 1/rank of each positive among its own k negatives, ties pessimistic', () => {
    // Positive 0.9 beats both its negatives (rank 1); 0.5 is below 0.7 and tied with 0.5 (rank 3).
    expect(mrr([0.9, 0.5], [0.1, 0.2, 0.7, 0.5], 2)).toBeCloseTo((1 + 1 / 3) / 2, 12);
  });

  it('rejects a negative count that does not match', () => {
    expect(() => mrr([1, 2], [0, 0, 0], 2)).toThrow(TorchrecError);
  });
});

describe('stratified', () => {
  it('computes the metric over all rows and over each stratum of a discrete feature', () => {
    // Rows: [score, label, discrete feature 1 = country]
    const scores = [0.9, 0.2, 0.6, 0.7, 0.1, 0.4];
    const labels = [1, 0, 1, 0, 1, 0];
    const country = [7, 7, 7, 3, 3, 3];
    const strata = [
      new StratifierConfig({ name: 'us', index: 1, value: 7 }),
      new StratifierConfig({ name: 'jp', index: 1, value: 3 }),
      new StratifierConfig({ name: 'none', index: 1, value: 99 }),
    ];
    const out = stratified(
      6,
      (row, index) => (index === 1 ? country[row] : 0),
      strata,
      (rows) => auc(pick(scores, rows), pick(labels, rows)),
    );
    // Positives 0.9, 0.6, 0.1 vs negatives 0.2, 0.7, 0.4: 3 + 2 + 0 of 9 pairs.
    expect(out.all).toBeCloseTo(5 / 9, 12);
    expect(out.us).toBe(1); // 0.9 and 0.6 both above 0.2
    expect(out.jp).toBe(0); // 0.1 below both 0.7 and 0.4
    expect(out.none).toBeNaN();
  });
});
