/**
 * Per-table optimizer configs. sgd/adagrad/adam follow the-algorithm-ml's optimizers/config.py
 * (names and defaults); rowwise_adagrad, partial_rowwise_adam and lamb are FBGEMM's exact fused
 * optimizers, with FBGEMM's defaults, since those are what TorchRec runs for embedding tables.
 */
import { TorchrecError } from '../errors';
import {
  Fields,
  Validator,
  at,
  describe,
  instanceReader,
  readArray,
  readChoice,
  readNested,
  readNumber,
  readObject,
  requireOneOf,
  validateRoot,
  NumberRule,
} from './validate';
import { LearningRate, readLearningRate } from './learning_rate';

export type WeightDecayMode = 'none' | 'l2' | 'decoupled';

export interface SgdConfig {
  lr: number;
  momentum: number;
}
export interface AdagradConfig {
  lr: number;
  eps: number;
}
export interface AdamConfig {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}
export interface RowwiseAdagradConfig {
  lr: number;
  eps: number;
  weight_decay: number;
  weight_decay_mode: WeightDecayMode;
}
export interface PartialRowwiseAdamConfig {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}
export interface LambConfig {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}

export const OPTIMIZER_ALGORITHMS = [
  'sgd',
  'adagrad',
  'adam',
  'rowwise_adagrad',
  'partial_rowwise_adam',
  'lamb',
] as const;
export type OptimizerAlgorithm = (typeof OPTIMIZER_ALGORITHMS)[number];

type FieldSpec =
  { kind: 'number'; rule: NumberRule; default?: number } | { kind: 'betas' } | { kind: 'weight_decay_mode' };

const LR: FieldSpec = { kind: 'number', rule: 'nonNegative' };
const BETAS: FieldSpec = { kind: 'betas' };
const WEIGHT_DECAY: FieldSpec = { kind: 'number', rule: 'nonNegative', default: 0 };
const eps = (value: number): FieldSpec => ({ kind: 'number', rule: 'nonNegative', default: value });

/** Field table per algorithm; a spec without a default is required. */
const ALGORITHM_FIELDS: Record<OptimizerAlgorithm, Record<string, FieldSpec>> = {
  // momentum is read as any number so that a non-zero one gets the specific message below.
  sgd: { lr: LR, momentum: { kind: 'number', rule: 'finite', default: 0 } },
  adagrad: { lr: LR, eps: eps(0) },
  adam: { lr: LR, betas: BETAS, eps: eps(1e-7), weight_decay: WEIGHT_DECAY },
  rowwise_adagrad: {
    lr: LR,
    eps: eps(1e-8),
    weight_decay: WEIGHT_DECAY,
    weight_decay_mode: { kind: 'weight_decay_mode' },
  },
  partial_rowwise_adam: { lr: LR, betas: BETAS, eps: eps(1e-8), weight_decay: WEIGHT_DECAY },
  lamb: { lr: LR, betas: BETAS, eps: eps(1e-8), weight_decay: WEIGHT_DECAY },
};

// 'decouple' is FBGEMM's own spelling (WeightDecayMode.DECOUPLE).
const WEIGHT_DECAY_MODES: Record<string, WeightDecayMode> = {
  none: 'none',
  l2: 'l2',
  decoupled: 'decoupled',
  decouple: 'decoupled',
};

function readBetas(v: Validator, o: Fields, path: string): [number, number] | undefined {
  const arr = readArray(v, o, 'betas', path);
  if (arr === undefined) return [0.9, 0.999];
  const p = at(path, 'betas');
  if (arr.length !== 2) {
    v.add(p, `must be two numbers in [0, 1), got ${arr.length} entries`);
    return undefined;
  }
  const before = v.count;
  arr.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) v.add(at(p, i), `must be a number in [0, 1), got ${describe(b)}`);
  });
  return v.count === before ? [arr[0] as number, arr[1] as number] : undefined;
}

function algorithmReader(name: OptimizerAlgorithm) {
  const specs = ALGORITHM_FIELDS[name];
  return (v: Validator, raw: unknown, path: string): Fields | undefined => {
    const o = readObject(v, raw, path, Object.keys(specs));
    if (!o) return undefined;
    const before = v.count;
    const out: Fields = {};
    for (const [key, spec] of Object.entries(specs)) {
      if (spec.kind === 'betas') out[key] = readBetas(v, o, path);
      else if (spec.kind === 'weight_decay_mode') out[key] = readChoice(v, o, key, path, WEIGHT_DECAY_MODES) ?? 'none';
      else out[key] = readNumber(v, o, key, path, spec.rule, spec.default === undefined) ?? spec.default;
    }
    if (name === 'sgd' && typeof out.momentum === 'number' && out.momentum !== 0) {
      v.add(at(path, 'momentum'), `must be 0 (the fused EXACT_SGD update has no momentum), got ${out.momentum}`);
    }
    return v.count === before ? out : undefined;
  };
}

const ALGORITHM_READERS = Object.fromEntries(OPTIMIZER_ALGORITHMS.map((n) => [n, algorithmReader(n)])) as Record<
  OptimizerAlgorithm,
  ReturnType<typeof algorithmReader>
>;

const OPTIMIZER_FIELDS = ['learning_rate', ...OPTIMIZER_ALGORITHMS];

/** Exactly one algorithm, plus an optional schedule for its learning rate. */
export class OptimizerConfig {
  declare learning_rate?: LearningRate;
  declare sgd?: SgdConfig;
  declare adagrad?: AdagradConfig;
  declare adam?: AdamConfig;
  declare rowwise_adagrad?: RowwiseAdagradConfig;
  declare partial_rowwise_adam?: PartialRowwiseAdamConfig;
  declare lamb?: LambConfig;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('OptimizerConfig', raw, readOptimizerFields));
  }
}

function readOptimizerFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, OPTIMIZER_FIELDS);
  if (!o) return undefined;
  requireOneOf(v, o, OPTIMIZER_ALGORITHMS, path);
  const out: Fields = { learning_rate: readNested(v, o, 'learning_rate', path, readLearningRate) };
  for (const name of OPTIMIZER_ALGORITHMS) out[name] = readNested(v, o, name, path, ALGORITHM_READERS[name]);
  return out;
}

export const readOptimizerConfig = instanceReader(OptimizerConfig, readOptimizerFields);

/**
 * The state each fused optimizer keeps per table, as FBGEMM names it (native/core/optimizer_*.cc):
 * `perElement` state is fp32 [N][D], the rest fp32 [N] (one value per row).
 */
export const OPTIMIZER_STATE: Readonly<Record<OptimizerAlgorithm, readonly { name: string; perElement: boolean }[]>> = {
  sgd: [],
  adagrad: [{ name: 'momentum1', perElement: true }],
  adam: [
    { name: 'momentum1', perElement: true },
    { name: 'momentum2', perElement: true },
  ],
  rowwise_adagrad: [{ name: 'momentum1', perElement: false }],
  partial_rowwise_adam: [
    { name: 'momentum1', perElement: true },
    { name: 'momentum2', perElement: false },
  ],
  lamb: [
    { name: 'momentum1', perElement: true },
    { name: 'momentum2', perElement: true },
  ],
};

/** Which algorithm a validated OptimizerConfig selects (the-algorithm-ml's get_optimizer_algorithm_config). */
export function optimizerAlgorithm(cfg: OptimizerConfig): OptimizerAlgorithm {
  const name = OPTIMIZER_ALGORITHMS.find((n) => cfg[n] !== undefined);
  // Only reachable for an instance whose fields were deleted after construction.
  if (name === undefined) throw new TorchrecError('ERR_INVALID_CONFIG', 'OptimizerConfig has no algorithm set');
  return name;
}

/**
 * the-algorithm-ml's LargeEmbeddings optimizer: FBGEMM's EXACT_SGD at `init_learning_rate`, with an
 * optional schedule.
 */
export class EmbeddingOptimizerConfig {
  declare learning_rate?: LearningRate;
  declare init_learning_rate: number;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('EmbeddingOptimizerConfig', raw, readEmbeddingOptimizerFields));
  }
}

function readEmbeddingOptimizerFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['learning_rate', 'init_learning_rate']);
  if (!o) return undefined;
  return {
    learning_rate: readNested(v, o, 'learning_rate', path, readLearningRate),
    init_learning_rate: readNumber(v, o, 'init_learning_rate', path, 'nonNegative', true),
  };
}

export const readEmbeddingOptimizerConfig = instanceReader(EmbeddingOptimizerConfig, readEmbeddingOptimizerFields);
