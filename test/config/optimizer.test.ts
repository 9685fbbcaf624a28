import {
  EmbeddingOptimizerConfig,
  LearningRate,
  OPTIMIZER_ALGORITHMS,
  OptimizerConfig,
  optimizerAlgorithm,
} from '../../lib/config';
import { configError, expectIssue } from '../helpers/errors';

describe('OptimizerConfig defaults', () => {
  it.each([
    ['sgd', { lr: 0.1, momentum: 0 }],
    ['adagrad', { lr: 0.1, eps: 0 }],
    ['adam', { lr: 0.1, betas: [0.9, 0.999], eps: 1e-7, weight_decay: 0 }],
    ['rowwise_adagrad', { lr: 0.1, eps: 1e-8, weight_decay: 0, weight_decay_mode: 'none' }],
    ['partial_rowwise_adam', { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }],
    ['lamb', { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }],
  ])('%s with only lr gets its defaults', (name, expected) => {
    const cfg = new OptimizerConfig({ [name]: { lr: 0.1 } });
    expect(cfg[name as keyof OptimizerConfig]).toEqual(expected);
    expect(optimizerAlgorithm(cfg)).toBe(name);
    const others = OPTIMIZER_ALGORITHMS.filter((n) => n !== name && cfg[n] !== undefined);
    expect(others).toEqual([]);
  });

  it('keeps explicit values', () => {
    const cfg = new OptimizerConfig({
      rowwise_adagrad: { lr: 0.2, eps: 1e-6, weight_decay: 0.01, weight_decay_mode: 'L2' },
      learning_rate: { constant: 0.2 },
    });
    expect(cfg.rowwise_adagrad).toEqual({ lr: 0.2, eps: 1e-6, weight_decay: 0.01, weight_decay_mode: 'l2' });
    expect(cfg.learning_rate).toBeInstanceOf(LearningRate);
  });

  it("accepts FBGEMM's DECOUPLE spelling", () => {
    const cfg = new OptimizerConfig({ rowwise_adagrad: { lr: 1, weight_decay_mode: 'DECOUPLE' } });
    expect(cfg.rowwise_adagrad?.weight_decay_mode).toBe('decoupled');
  });

  it('gives every instance its own betas array', () => {
    const a = new OptimizerConfig({ adam: { lr: 1 } });
    a.adam?.betas.splice(0, 2, 0.1, 0.2);
    expect(new OptimizerConfig({ adam: { lr: 1 } }).adam?.betas).toEqual([0.9, 0.999]);
  });

  it('is idempotent on its own output', () => {
    const cfg = new OptimizerConfig({ lamb: { lr: 0.3, betas: [0.8, 0.9] }, learning_rate: { constant: 0.3 } });
    expect(new OptimizerConfig(cfg)).toEqual(cfg);
  });
});

describe('OptimizerConfig rejections', () => {
  const cases: [string, unknown, string, string][] = [
    [
      'no algorithm',
      { learning_rate: { constant: 1 } },
      '',
      'exactly one of sgd, adagrad, adam, rowwise_adagrad, partial_rowwise_adam, lamb is required, none was set',
    ],
    ['two algorithms', { sgd: { lr: 1 }, adam: { lr: 1 } }, '', 'got sgd and adam'],
    [
      'sgd momentum',
      { sgd: { lr: 1, momentum: 0.9 } },
      'sgd.momentum',
      'must be 0 (the fused EXACT_SGD update has no momentum), got 0.9',
    ],
    ['negative lr', { sgd: { lr: -0.1 } }, 'sgd.lr', 'must be a non-negative number, got -0.1'],
    ['missing lr', { adagrad: {} }, 'adagrad.lr', 'is required'],
    ['string lr', { adam: { lr: '0.1' } }, 'adam.lr', 'got "0.1"'],
    ['one beta', { adam: { lr: 1, betas: [0.9] } }, 'adam.betas', 'must be two numbers in [0, 1), got 1 entries'],
    ['beta of 1', { lamb: { lr: 1, betas: [0.9, 1] } }, 'lamb.betas[1]', 'must be a number in [0, 1), got 1'],
    [
      'negative beta',
      { partial_rowwise_adam: { lr: 1, betas: [-0.1, 0.5] } },
      'partial_rowwise_adam.betas[0]',
      'got -0.1',
    ],
    ['string betas', { adam: { lr: 1, betas: 'x' } }, 'adam.betas', 'must be an array'],
    ['negative eps', { adagrad: { lr: 1, eps: -1 } }, 'adagrad.eps', 'got -1'],
    [
      'negative weight decay',
      { rowwise_adagrad: { lr: 1, weight_decay: -1 } },
      'rowwise_adagrad.weight_decay',
      'got -1',
    ],
    [
      'unknown weight decay mode',
      { rowwise_adagrad: { lr: 1, weight_decay_mode: 'l1' } },
      'rowwise_adagrad.weight_decay_mode',
      'must be one of "none", "l2", "decoupled"',
    ],
    ['adagrad weight decay', { adagrad: { lr: 1, weight_decay: 0.1 } }, 'adagrad.weight_decay', 'unknown field'],
    ['misspelled algorithm field', { sgd: { lrr: 1, lr: 1 } }, 'sgd.lrr', 'did you mean "lr"?'],
    ['misspelled algorithm', { sdg: { lr: 1 } }, 'sdg', 'unknown field (did you mean "sgd"?)'],
    ['bad schedule', { sgd: { lr: 1 }, learning_rate: { constant: -1 } }, 'learning_rate.constant', 'got -1'],
    ['algorithm not an object', { sgd: 0.1 }, 'sgd', 'must be an object, got 0.1'],
  ];

  it.each(cases)('rejects %s', (_label, raw, path, fragment) => {
    expectIssue(() => new OptimizerConfig(raw), path, fragment);
  });

  it('reports the one-of violation together with the fields inside', () => {
    const err = configError(() => new OptimizerConfig({ sgd: { lr: -1 }, adam: { lr: 1, betas: [2, 2] } }));
    expect(err.issues.map((i) => i.path)).toEqual(['', 'sgd.lr', 'adam.betas[0]', 'adam.betas[1]']);
  });
});

describe('EmbeddingOptimizerConfig', () => {
  it('accepts an init rate with an optional schedule', () => {
    const cfg = new EmbeddingOptimizerConfig({
      init_learning_rate: 0.02,
      learning_rate: { linear_ramp_to_constant: { learning_rate: 0.02, num_ramp_steps: 10 } },
    });
    expect(cfg.init_learning_rate).toBe(0.02);
    expect(cfg.learning_rate?.linear_ramp_to_constant).toEqual({ learning_rate: 0.02, num_ramp_steps: 10 });
  });

  it('rejects a missing init rate and unknown fields together', () => {
    const err = configError(() => new EmbeddingOptimizerConfig({ sgd: { lr: 1 } }));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['init_learning_rate', 'sgd']);
  });
});
