/**
 * test/fixtures/golden/optimizers.json through the public API: every FBGEMM exact optimizer run
 * (weights and every state after each of the 3 steps, atol 1e-6, as OPTIMIZERS.md asks).
 */
import { checkGoldenSteps, goldenOptimizerCollection, loadOptimizerGolden } from './helpers';

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
    const ebc = goldenOptimizerCollection(golden, scenario, run);
    const table = golden.table.name;

    // State names and shapes are FBGEMM's, zero before the first step.
    const before = ebc.optimizerState(table);
    expect(Object.keys(before).sort()).toEqual(Object.keys(run.state_shapes).sort());
    for (const [name, shape] of Object.entries(run.state_shapes)) {
      expect(before[name]).toBeInstanceOf(Float32Array);
      expect(before[name].length).toBe(shape.reduce((a, b) => a * b, 1));
      expect(before[name].every((x) => x === 0)).toBe(true);
    }

    await checkGoldenSteps(ebc, golden, scenario, run, ATOL);
  });
});
