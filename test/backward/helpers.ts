/** Shared bits of the backward and optimizer tests: golden optimizer steps and random gradients. */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { GOLDEN_DIR, maxAbsDiff } from '../helpers/golden';

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

type OptimizerScenario = OptimizerGolden['scenarios'][number];

/** The scenario's collection with `run`'s optimizer on every table and the golden's initial weights. */
export function goldenOptimizerCollection(
  golden: OptimizerGolden,
  scenario: OptimizerScenario,
  run: OptimizerGoldenRun,
  device: 'cpu' | 'cuda' = 'cpu',
): EmbeddingBagCollection {
  const ebc = new EmbeddingBagCollection({
    tables: scenario.ebc_tables.map((t) => ({ ...t, optimizer: optimizerConfig(run) })),
    seed: 7,
    device,
  });
  ebc.setWeights(golden.table.name, Float32Array.from(golden.table.initial_weights.flat()));
  return ebc;
}

/** Takes the scenario's steps, checking the step count, weights and every state after each within atol. */
export async function checkGoldenSteps(
  ebc: EmbeddingBagCollection,
  golden: OptimizerGolden,
  scenario: OptimizerScenario,
  run: OptimizerGoldenRun,
  atol: number,
): Promise<void> {
  const table = golden.table.name;
  for (const [k, input] of scenario.steps_input.entries()) {
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: input.kjt.keys,
      values: input.kjt.values,
      lengths: input.kjt.lengths,
    });
    await ebc.backward(kjt, Float32Array.from(input.G.flat()));
    const expected = run.steps[k];
    expect(ebc.step).toBe(expected.iter);
    expect(maxAbsDiff(ebc.getWeights(table), expected.weights_after.flat())).toBeLessThanOrEqual(atol);
    const state = ebc.optimizerState(table);
    for (const name of Object.keys(run.state_shapes)) {
      const want = expected[`${name}_after` as 'momentum1_after' | 'momentum2_after'];
      expect(want).toBeDefined();
      expect(maxAbsDiff(state[name], (want as number[] | number[][]).flat())).toBeLessThanOrEqual(atol);
    }
  }
}
