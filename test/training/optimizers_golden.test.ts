/**
 * test/fixtures/golden/optimizers.json through the public API: every FBGEMM exact optimizer run
 * (weights and every state after each of the 3 steps, atol 1e-6, as OPTIMIZERS.md asks).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { loadOptimizerGolden, maxDiff, optimizerConfig } from './helpers';

const golden = loadOptimizerGolden();
const ATOL = 1e-6;

test('the golden file has every optimizer', () => {
  const names = new Set(golden.scenarios.flatMap((s) => s.runs.map((r) => r.optimizer)));
  expect([...names].sort()).toEqual(
    ['ADAM', 'EXACT_ADAGRAD', 'EXACT_ROWWISE_ADAGRAD', 'EXACT_SGD', 'LAMB', 'PARTIAL_ROWWISE_ADAM'].sort(),
  );
});

describe.each(golden.scenarios.map((s) => [s.name, s] as const))('%s', (_name, scenario) => {
  const runs = scenario.runs.map((r) => [`${r.optimizer} ${JSON.stringify(r.hparams)}`, r] as const);

  test.each(runs)('%s: weights and states after each step', async (_label, run) => {
    const ebc = new EmbeddingBagCollection({
      tables: scenario.ebc_tables.map((t) => ({ ...t, optimizer: optimizerConfig(run) })),
      seed: 7,
    });
    const table = golden.table.name;
    ebc.setWeights(table, Float32Array.from(golden.table.initial_weights.flat()));

    // State names and shapes are FBGEMM's, zero before the first step.
    const before = ebc.optimizerState(table);
    expect(Object.keys(before).sort()).toEqual(Object.keys(run.state_shapes).sort());
    for (const [name, shape] of Object.entries(run.state_shapes)) {
      expect(before[name]).toBeInstanceOf(Float32Array);
      expect(before[name].length).toBe(shape.reduce((a, b) => a * b, 1));
      expect(before[name].every((x) => x === 0)).toBe(true);
    }

    for (const [k, input] of scenario.steps_input.entries()) {
      const kjt = KeyedJaggedTensor.fromLengths({
        keys: input.kjt.keys,
        values: input.kjt.values,
        lengths: input.kjt.lengths,
      });
      await ebc.backward(kjt, Float32Array.from(input.G.flat()));
      const expected = run.steps[k];
      expect(ebc.step).toBe(expected.iter);
      expect(maxDiff(ebc.getWeights(table), expected.weights_after.flat())).toBeLessThanOrEqual(ATOL);
      const state = ebc.optimizerState(table);
      for (const name of Object.keys(run.state_shapes)) {
        const want = expected[`${name}_after` as 'momentum1_after' | 'momentum2_after'];
        expect(want).toBeDefined();
        expect(maxDiff(state[name], (want as number[] | number[][]).flat())).toBeLessThanOrEqual(ATOL);
      }
    }
  });
});
