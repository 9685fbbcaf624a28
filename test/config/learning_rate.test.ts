import { TorchrecError } from '../../lib/errors';
import { LearningRate, computeLearningRate } from '../../lib/config';
import { configError, expectIssue } from '../helpers/errors';

describe('LearningRate validation', () => {
  const cases: [string, unknown, string, string][] = [
    [
      'no schedule',
      {},
      '',
      'exactly one of constant, linear_ramp_to_cosine, linear_ramp_to_constant, piecewise_constant is required, none was set',
    ],
    [
      'two schedules',
      { constant: 1, linear_ramp_to_constant: { learning_rate: 1, num_ramp_steps: 2 } },
      '',
      'got constant and linear_ramp_to_constant',
    ],
    ['negative constant', { constant: -0.1 }, 'constant', 'must be a non-negative number, got -0.1'],
    ['string constant', { constant: '0.1' }, 'constant', 'got "0.1"'],
    [
      'too few values',
      { piecewise_constant: { learning_rate_boundaries: [10, 20], learning_rate_values: [1, 2] } },
      'piecewise_constant.learning_rate_values',
      '(2 boundaries need 3 values), got 2',
    ],
    [
      'decreasing boundary',
      { piecewise_constant: { learning_rate_boundaries: [10, 20, 15], learning_rate_values: [1, 2, 3, 4] } },
      'piecewise_constant.learning_rate_boundaries[2]',
      'must not be less than the previous boundary 20, got 15',
    ],
    [
      'fractional boundary',
      { piecewise_constant: { learning_rate_boundaries: [1.5], learning_rate_values: [1, 2] } },
      'piecewise_constant.learning_rate_boundaries[0]',
      'must be a non-negative integer, got 1.5',
    ],
    [
      'missing values',
      { piecewise_constant: { learning_rate_boundaries: [] } },
      'piecewise_constant.learning_rate_values',
      'is required',
    ],
    [
      'negative value',
      { piecewise_constant: { learning_rate_boundaries: [], learning_rate_values: [-1] } },
      'piecewise_constant.learning_rate_values[0]',
      'got -1',
    ],
    [
      'zero ramp steps',
      { linear_ramp_to_constant: { learning_rate: 1, num_ramp_steps: 0 } },
      'linear_ramp_to_constant.num_ramp_steps',
      'must be a positive integer, got 0',
    ],
    [
      'fractional ramp steps',
      { linear_ramp_to_cosine: { learning_rate: 1, final_learning_rate: 0, num_ramp_steps: 2.5, final_num_steps: 10 } },
      'linear_ramp_to_cosine.num_ramp_steps',
      'got 2.5',
    ],
    [
      'final before ramp end',
      { linear_ramp_to_cosine: { learning_rate: 1, final_learning_rate: 0, num_ramp_steps: 10, final_num_steps: 10 } },
      'linear_ramp_to_cosine.final_num_steps',
      'must be greater than num_ramp_steps (10), got 10',
    ],
    [
      'missing ramp rate',
      { linear_ramp_to_constant: { num_ramp_steps: 3 } },
      'linear_ramp_to_constant.learning_rate',
      'is required',
    ],
    [
      'misspelled schedule field',
      { linear_ramp_to_constant: { learning_rate: 1, num_ramp_step: 3 } },
      'linear_ramp_to_constant.num_ramp_step',
      'did you mean "num_ramp_steps"?',
    ],
  ];

  it.each(cases)('rejects %s', (_label, raw, path, fragment) => {
    expectIssue(() => new LearningRate(raw), path, fragment);
  });

  it('accepts constant 0 as a set schedule', () => {
    expect(new LearningRate({ constant: 0 }).constant).toBe(0);
  });
});

describe('computeLearningRate', () => {
  it('returns a constant at every step', () => {
    for (const step of [0, 1, 1_000_000]) expect(computeLearningRate({ constant: 0.05 }, step)).toBe(0.05);
  });

  it('uses bisect_right for piecewise_constant: a step on a boundary takes the next value', () => {
    const lr = new LearningRate({
      piecewise_constant: { learning_rate_boundaries: [10, 20], learning_rate_values: [1, 0.5, 0.1] },
    });
    const got = [0, 9, 10, 11, 19, 20, 1000].map((s) => computeLearningRate(lr, s));
    expect(got).toEqual([1, 1, 0.5, 0.5, 0.5, 0.1, 0.1]);
  });

  it('accepts repeated boundaries and follows bisect_right over them, as compute_lr does', () => {
    // Python: bisect.bisect_right([10, 20, 20, 35], s) for s = 0, 9, 10, 19, 20, 21, 34, 35, 100 is
    // 0, 0, 1, 1, 3, 3, 3, 4, 4: at step 20 both copies of 20 are passed, so values[2] never applies.
    const lr = new LearningRate({
      piecewise_constant: { learning_rate_boundaries: [10, 20, 20, 35], learning_rate_values: [5, 4, 3, 2, 1] },
    });
    expect(lr.piecewise_constant!.learning_rate_boundaries).toEqual([10, 20, 20, 35]);
    const got = [0, 9, 10, 19, 20, 21, 34, 35, 100].map((s) => computeLearningRate(lr, s));
    expect(got).toEqual([5, 5, 4, 4, 2, 2, 2, 1, 1]);
  });

  it('accepts a schedule whose boundaries are all equal: one switch, straight to the last value', () => {
    // bisect_right([7, 7, 7], s): 0 below 7, 3 from 7 on.
    const lr = {
      piecewise_constant: { learning_rate_boundaries: [7, 7, 7], learning_rate_values: [0.4, 0.3, 0.2, 0.1] },
    };
    expect([0, 6, 7, 8].map((s) => computeLearningRate(lr, s))).toEqual([0.4, 0.4, 0.1, 0.1]);
  });

  it('treats a piecewise schedule without boundaries as constant', () => {
    const lr = { piecewise_constant: { learning_rate_boundaries: [], learning_rate_values: [0.3] } };
    expect(computeLearningRate(lr, 0)).toBe(0.3);
    expect(computeLearningRate(lr, 99)).toBe(0.3);
  });

  it('ramps linearly to a constant', () => {
    const lr = { linear_ramp_to_constant: { learning_rate: 0.1, num_ramp_steps: 10 } };
    expect(computeLearningRate(lr, 0)).toBe(0);
    expect(computeLearningRate(lr, 5)).toBeCloseTo(0.05, 15);
    expect(computeLearningRate(lr, 10)).toBe(0.1);
    expect(computeLearningRate(lr, 11)).toBe(0.1);
    expect(computeLearningRate(lr, 500)).toBe(0.1);
  });

  it('ramps then follows the cosine down to the final rate', () => {
    // lr 1.0 -> 0.1, ramp over 10 steps, cosine over steps 10..110 (period 100).
    const lr = new LearningRate({
      linear_ramp_to_cosine: { learning_rate: 1, final_learning_rate: 0.1, num_ramp_steps: 10, final_num_steps: 110 },
    });
    const at = (s: number) => computeLearningRate(lr, s);
    expect(at(0)).toBe(0);
    expect(at(5)).toBe(0.5);
    expect(at(9)).toBeCloseTo(0.9, 15);
    expect(at(10)).toBe(1); // cos(0): the cosine starts at the peak
    expect(at(35)).toBeCloseTo(0.1 + 0.45 * (1 + Math.SQRT1_2), 15); // cos(pi/4)
    expect(at(60)).toBeCloseTo(0.55, 15); // cos(pi/2)
    expect(at(110)).toBeCloseTo(0.1, 15); // cos(pi), last step of the formula
    expect(at(111)).toBe(0.1);
    expect(at(10_000)).toBe(0.1);
  });

  it('accepts a plain object and a LearningRate alike', () => {
    const raw = { linear_ramp_to_constant: { learning_rate: 2, num_ramp_steps: 4 } };
    expect(computeLearningRate(raw, 1)).toBe(computeLearningRate(new LearningRate(raw), 1));
    expect(computeLearningRate(raw, 1)).toBe(0.5);
  });

  it.each([-1, 1.5, NaN, Infinity, '3', undefined])('rejects step %p with ERR_INVALID_ARGUMENT', (step) => {
    let caught: unknown;
    try {
      computeLearningRate({ constant: 1 }, step as number);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TorchrecError);
    expect((caught as TorchrecError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((caught as TorchrecError).message).toContain('step must be a non-negative integer');
  });

  it('rejects an invalid schedule object with ERR_INVALID_CONFIG', () => {
    const err = configError(() => computeLearningRate({ constant: 1, piecewise_constant: null, bogus: 1 }, 0));
    expect(err.issues).toEqual([{ path: 'bogus', message: 'unknown field' }]);
    configError(() => computeLearningRate(null as unknown as object, 0));
  });
});
