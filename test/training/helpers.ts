/** Shared bits of the training tests. */
import * as fs from 'fs';
import * as path from 'path';
import { GOLDEN_DIR } from '../helpers/golden';

export interface OptimizerGoldenStep {
  iter: number;
  weights_after: number[][];
  momentum1_after?: number[][] | number[];
  momentum2_after?: number[][] | number[];
}

export interface OptimizerGoldenRun {
  optimizer: string;
  hparams: Record<string, number>;
  state_shapes: Record<string, number[]>;
  steps: OptimizerGoldenStep[];
}

export interface OptimizerGolden {
  table: { name: string; num_embeddings: number; embedding_dim: number; initial_weights: number[][] };
  scenarios: {
    name: string;
    ebc_tables: {
      name: string;
      num_embeddings: number;
      embedding_dim: number;
      feature_names: string[];
      pooling: string;
      data_type: string;
    }[];
    steps_input: {
      kjt: { keys: string[]; values: number[]; lengths: number[]; offsets: number[]; stride: number };
      G: number[][];
      touched_rows: number[];
      row_grads: number[][];
    }[];
    runs: OptimizerGoldenRun[];
  }[];
}

export function loadOptimizerGolden(): OptimizerGolden {
  return JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, 'optimizers.json'), 'utf8')) as OptimizerGolden;
}

/** Largest |a - b| over equal-length arrays. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

export { rng } from '../helpers/random';

/** A Float32Array of n values uniform in [-1, 1). */
export function randomGrad(n: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

/** The golden's FBGEMM hyper-parameters as this library's OptimizerConfig. */
export function optimizerConfig(run: OptimizerGoldenRun): object {
  const h = run.hparams;
  const betas = [h.beta1, h.beta2];
  switch (run.optimizer) {
    case 'EXACT_SGD':
      return { sgd: { lr: h.learning_rate } };
    case 'EXACT_ADAGRAD':
      return { adagrad: { lr: h.learning_rate, eps: h.eps } };
    case 'EXACT_ROWWISE_ADAGRAD':
      return {
        rowwise_adagrad: {
          lr: h.learning_rate,
          eps: h.eps,
          weight_decay: h.weight_decay,
          weight_decay_mode: (['none', 'l2', 'decoupled'] as const)[h.weight_decay_mode],
        },
      };
    case 'ADAM':
      return { adam: { lr: h.learning_rate, eps: h.eps, betas, weight_decay: h.weight_decay } };
    case 'PARTIAL_ROWWISE_ADAM':
      return { partial_rowwise_adam: { lr: h.learning_rate, eps: h.eps, betas, weight_decay: h.weight_decay } };
    case 'LAMB':
      return { lamb: { lr: h.learning_rate, eps: h.eps, betas, weight_decay: h.weight_decay } };
  }
  throw new Error(`unknown optimizer ${run.optimizer}`);
}
