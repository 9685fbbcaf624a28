/**
 * the-algorithm-ml's learning-rate schedules (optimizers/config.py) and their evaluation
 * (optimizers/optimizer.py `compute_lr`), reproduced operation for operation so a schedule gives
 * the same float in Node as in Python.
 */
import { TorchrecError } from '../errors';
import {
  Fields,
  Validator,
  at,
  checkNumber,
  describe,
  instanceReader,
  readList,
  readNested,
  readNumber,
  readObject,
  requireOneOf,
  validateRoot,
} from './validate';

export interface PiecewiseConstant {
  /**
   * Steps at which the rate changes, non-decreasing: the-algorithm-ml accepts a repeated boundary, and
   * bisect_right then skips the value between the two copies.
   */
  learning_rate_boundaries: number[];
  /** One more value than boundaries: values[i] applies before boundaries[i]. */
  learning_rate_values: number[];
}

export interface LinearRampToConstant {
  learning_rate: number;
  num_ramp_steps: number;
}

export interface LinearRampToCosine {
  learning_rate: number;
  final_learning_rate: number;
  num_ramp_steps: number;
  final_num_steps: number;
}

const SCHEDULES = ['constant', 'linear_ramp_to_cosine', 'linear_ramp_to_constant', 'piecewise_constant'] as const;

/** Exactly one schedule is set. */
export class LearningRate {
  declare constant?: number;
  declare linear_ramp_to_cosine?: LinearRampToCosine;
  declare linear_ramp_to_constant?: LinearRampToConstant;
  declare piecewise_constant?: PiecewiseConstant;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('LearningRate', raw, readLearningRateFields));
  }
}

function readPiecewise(v: Validator, raw: unknown, path: string): PiecewiseConstant | undefined {
  const o = readObject(v, raw, path, ['learning_rate_boundaries', 'learning_rate_values']);
  if (!o) return undefined;
  const boundariesPath = at(path, 'learning_rate_boundaries');
  const boundaries = readList(
    v,
    o,
    'learning_rate_boundaries',
    path,
    (vv, x, p) => checkNumber(vv, x, p, 'nonNegativeInt'),
    true,
  );
  const values = readList(v, o, 'learning_rate_values', path, (vv, x, p) => checkNumber(vv, x, p, 'nonNegative'), true);
  if (boundaries) {
    // bisect_right needs a sorted list: over a decreasing one it would pick values out of order. Equal
    // neighbours are sorted, and compute_lr (bisect_right, no check) accepts them.
    for (let i = 1; i < boundaries.length; i++) {
      if (boundaries[i] < boundaries[i - 1]) {
        v.add(
          at(boundariesPath, i),
          `must not be less than the previous boundary ${boundaries[i - 1]}, got ${boundaries[i]}`,
        );
      }
    }
  }
  if (boundaries && values && values.length !== boundaries.length + 1) {
    v.add(
      at(path, 'learning_rate_values'),
      `must have one more entry than learning_rate_boundaries (${boundaries.length} boundaries need ` +
        `${boundaries.length + 1} values), got ${values.length}`,
    );
  }
  if (!boundaries || !values) return undefined;
  return { learning_rate_boundaries: boundaries, learning_rate_values: values };
}

function readRampToConstant(v: Validator, raw: unknown, path: string): LinearRampToConstant | undefined {
  const o = readObject(v, raw, path, ['learning_rate', 'num_ramp_steps']);
  if (!o) return undefined;
  const learning_rate = readNumber(v, o, 'learning_rate', path, 'nonNegative', true);
  const num_ramp_steps = readNumber(v, o, 'num_ramp_steps', path, 'positiveInt', true);
  if (learning_rate === undefined || num_ramp_steps === undefined) return undefined;
  return { learning_rate, num_ramp_steps };
}

function readRampToCosine(v: Validator, raw: unknown, path: string): LinearRampToCosine | undefined {
  const o = readObject(v, raw, path, ['learning_rate', 'final_learning_rate', 'num_ramp_steps', 'final_num_steps']);
  if (!o) return undefined;
  const learning_rate = readNumber(v, o, 'learning_rate', path, 'nonNegative', true);
  const final_learning_rate = readNumber(v, o, 'final_learning_rate', path, 'nonNegative', true);
  const num_ramp_steps = readNumber(v, o, 'num_ramp_steps', path, 'positiveInt', true);
  const final_num_steps = readNumber(v, o, 'final_num_steps', path, 'positiveInt', true);
  if (num_ramp_steps !== undefined && final_num_steps !== undefined && final_num_steps <= num_ramp_steps) {
    // compute_lr divides by (final_num_steps - num_ramp_steps).
    v.add(
      at(path, 'final_num_steps'),
      `must be greater than num_ramp_steps (${num_ramp_steps}), got ${final_num_steps}`,
    );
    return undefined;
  }
  if (learning_rate === undefined || final_learning_rate === undefined) return undefined;
  if (num_ramp_steps === undefined || final_num_steps === undefined) return undefined;
  return { learning_rate, final_learning_rate, num_ramp_steps, final_num_steps };
}

function readLearningRateFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, SCHEDULES);
  if (!o) return undefined;
  requireOneOf(v, o, SCHEDULES, path);
  return {
    constant: readNumber(v, o, 'constant', path, 'nonNegative'),
    linear_ramp_to_cosine: readNested(v, o, 'linear_ramp_to_cosine', path, readRampToCosine),
    linear_ramp_to_constant: readNested(v, o, 'linear_ramp_to_constant', path, readRampToConstant),
    piecewise_constant: readNested(v, o, 'piecewise_constant', path, readPiecewise),
  };
}

/** Reader used by configs that nest a LearningRate. */
export const readLearningRate = instanceReader(LearningRate, readLearningRateFields);

/** Python's bisect.bisect_right: index of the first element greater than x. */
function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * the-algorithm-ml's `compute_lr`. A LearningRate instance is trusted (it was validated when
 * built); a plain object is validated first.
 */
export function computeLearningRate(lr: LearningRate | object, step: number): number {
  const cfg = lr instanceof LearningRate ? lr : new LearningRate(lr);
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', `step must be a non-negative integer, got ${describe(step)}`);
  }
  if (cfg.constant !== undefined) return cfg.constant;
  if (cfg.piecewise_constant !== undefined) {
    const p = cfg.piecewise_constant;
    return p.learning_rate_values[bisectRight(p.learning_rate_boundaries, step)];
  }
  if (cfg.linear_ramp_to_constant !== undefined) {
    const c = cfg.linear_ramp_to_constant;
    const slope = c.learning_rate / c.num_ramp_steps;
    return Math.min(c.learning_rate, slope * step);
  }
  if (cfg.linear_ramp_to_cosine !== undefined) {
    const c = cfg.linear_ramp_to_cosine;
    if (step < c.num_ramp_steps) {
      const slope = c.learning_rate / c.num_ramp_steps;
      return slope * step;
    }
    if (step <= c.final_num_steps) {
      return (
        c.final_learning_rate +
        (c.learning_rate - c.final_learning_rate) *
          0.5 *
          (1.0 + Math.cos((Math.PI * (step - c.num_ramp_steps)) / (c.final_num_steps - c.num_ramp_steps)))
      );
    }
    return c.final_learning_rate;
  }
  // Only reachable for an instance whose fields were deleted after construction.
  throw new TorchrecError('ERR_INVALID_CONFIG', 'LearningRate has no schedule set');
}
