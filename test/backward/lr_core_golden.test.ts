/**
 * The learning-rate schedules live in the native core now (next to the step counter), while the
 * public computeLearningRate stays in TypeScript. This pins them together and to the reference: for
 * every schedule kind, over thousands of steps,
 * - the core's rate of update t is bit-identical to the-algorithm-ml's compute_lr(schedule, t - 1)
 *   run by Python (the same double operations in the same order, and the same libm cos);
 * - it equals computeLearningRate(schedule, t - 1) as the float32 the optimizer rules compute with.
 *   Not bit for bit in double: V8's Math.cos (an fdlibm port) and glibc's cos, which Python and the
 *   core use, differ in the last bit for about one cosine step in twenty.
 */
import { execFileSync } from 'child_process';
import { computeLearningRate, LearningRate, OptimizerConfig } from '../../lib';
import { native } from '../../lib/native';
import { nativeOptimizerSpec } from '../../lib/native_spec';
import { describePython, PYTHON } from '../checkpoint/helpers';

const STEPS = 5000;

const SCHEDULES: Record<string, object> = {
  constant: { constant: 0.0375 },
  linear_ramp_to_constant: { linear_ramp_to_constant: { learning_rate: 0.3, num_ramp_steps: 997 } },
  linear_ramp_to_cosine: {
    linear_ramp_to_cosine: {
      learning_rate: 0.7,
      final_learning_rate: 0.013,
      num_ramp_steps: 333,
      final_num_steps: 4444,
    },
  },
  linear_ramp_to_cosine_short: {
    linear_ramp_to_cosine: { learning_rate: 1e-3, final_learning_rate: 1e-5, num_ramp_steps: 1, final_num_steps: 2 },
  },
  piecewise_constant: {
    piecewise_constant: {
      learning_rate_boundaries: [0, 10, 500, 2500, 4999],
      learning_rate_values: [9, 1, 0.5, 0.25, 0.125, 0.0625],
    },
  },
};

describe.each(Object.entries(SCHEDULES))(
  'core learning rate = computeLearningRate as float32: %s',
  (_name, schedule) => {
    test(`updates 1..${STEPS} under sgd and adam`, () => {
      for (const algorithm of ['sgd', 'adam']) {
        const config = new OptimizerConfig({ [algorithm]: { lr: 123 }, learning_rate: schedule });
        const rates = native().learningRates(nativeOptimizerSpec(config), 1, STEPS);
        expect(rates).toHaveLength(STEPS);
        const lr = new LearningRate(schedule);
        const mismatches: string[] = [];
        for (let t = 1; t <= STEPS; t++) {
          const want = Math.fround(computeLearningRate(lr, t - 1));
          if (!Object.is(Math.fround(rates[t - 1]), want))
            mismatches.push(`update ${t}: core ${rates[t - 1]}, ts ${want}`);
        }
        expect(mismatches).toEqual([]);
      }
    });
  },
);

// the-algorithm-ml's optimizers/optimizer.py compute_lr, verbatim in its arithmetic.
const COMPUTE_LR_PY = `
import bisect, json, math, sys
cfg, steps = json.loads(sys.argv[1]), int(sys.argv[2])
def compute_lr(step):
    if "constant" in cfg: return cfg["constant"]
    if "piecewise_constant" in cfg:
        c = cfg["piecewise_constant"]
        return c["learning_rate_values"][bisect.bisect_right(c["learning_rate_boundaries"], step)]
    if "linear_ramp_to_constant" in cfg:
        c = cfg["linear_ramp_to_constant"]
        slope = c["learning_rate"] / c["num_ramp_steps"]
        return min(c["learning_rate"], slope * step)
    c = cfg["linear_ramp_to_cosine"]
    if step < c["num_ramp_steps"]:
        slope = c["learning_rate"] / c["num_ramp_steps"]
        return slope * step
    elif step <= c["final_num_steps"]:
        return c["final_learning_rate"] + (c["learning_rate"] - c["final_learning_rate"]) * 0.5 * (
            1.0 + math.cos(math.pi * (step - c["num_ramp_steps"]) / (c["final_num_steps"] - c["num_ramp_steps"])))
    return c["final_learning_rate"]
print(json.dumps([repr(float(compute_lr(s))) for s in range(steps)]))
`;

describePython("core learning rate = the-algorithm-ml's compute_lr in Python, bit for bit", () => {
  test.each(Object.entries(SCHEDULES))('%s', (_name, schedule) => {
    const out = execFileSync(PYTHON, ['-c', COMPUTE_LR_PY, JSON.stringify(schedule), String(STEPS)], {
      encoding: 'utf8',
    });
    const python = (JSON.parse(out) as string[]).map(Number);
    const spec = nativeOptimizerSpec(new OptimizerConfig({ sgd: { lr: 1 }, learning_rate: schedule }));
    const core = Array.from(native().learningRates(spec, 1, STEPS));
    const mismatches = core.map((x, i) =>
      Object.is(x, python[i]) ? '' : `update ${i + 1}: core ${x}, python ${python[i]}`,
    );
    expect(mismatches.filter(Boolean)).toEqual([]);
  });
});

test('without a schedule every update uses the algorithm lr', () => {
  const rates = native().learningRates(nativeOptimizerSpec(new OptimizerConfig({ adagrad: { lr: 0.0123 } })), 7, 100);
  expect([...new Set(rates)]).toEqual([0.0123]);
});

test('the core refuses optimizer specs no rule can run, whoever calls it', () => {
  const spec = nativeOptimizerSpec(new OptimizerConfig({ adam: { lr: 0.1 } }));
  // Past the TypeScript validation (a C++ caller, or a hand-made spec): Adam divides by 1 - beta1^t.
  for (const [field, value] of [
    ['beta1', 1],
    ['beta2', 1.5],
    ['eps', -1],
    ['lr', NaN],
  ] as const) {
    expect(() => native().learningRates({ ...spec, [field]: value }, 1, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringContaining(`optimizer.${field}`) }),
    );
  }
  const decreasing = {
    ...spec,
    schedule: { kind: 'piecewise_constant' as const, boundaries: [5, 3], values: [1, 2, 3] },
  };
  expect(() => native().learningRates(decreasing, 1, 1)).toThrow(
    expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringContaining('non-decreasing') }),
  );
});
