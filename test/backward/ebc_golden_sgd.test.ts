/**
 * Every TorchRec golden EBC case that carries gradients (grad.G, grad.weight_grads): one fused SGD
 * step at lr 1 must give weights - weight_grads on the touched rows and leave every other row
 * bit-identical. This pins the backward pass itself (SUM, MEAN with empty bags, per-value weights,
 * shared tables, fp16 tables, int32 ids, zero-length features) against TorchRec's autograd.
 */
import { EmbeddingBagCollection } from '../../lib';
import { fp16Ulp } from '../helpers/fp16';
import { GoldenCase, goldenCaseFiles, goldenKjt, goldenTables, loadGolden } from '../helpers/golden';

const cases = goldenCaseFiles()
  .map((f) => [f, loadGolden(f)] as const)
  .filter(([, g]) => g.grad !== null && g.grad !== undefined);

/** Rows of `table` that the golden KJT touches, in any feature the table reads. */
function touchedRows(g: GoldenCase, table: string): Set<number> {
  const features = g.ebc.tables.find((t) => t.name === table)!.feature_names_after_init;
  const { keys, values, offsets, stride } = g.kjt;
  const rows = new Set<number>();
  keys.forEach((key, k) => {
    if (!features.includes(key)) return;
    for (let i = offsets[k * stride]; i < offsets[(k + 1) * stride]; i++) rows.add(values[i]);
  });
  return rows;
}

test('there are golden cases with gradients', () => {
  expect(cases.length).toBeGreaterThanOrEqual(10);
});

describe.each(cases)('%s', (_file, g) => {
  // How the step's optimizer is configured: per table, or the collection's EmbeddingOptimizerConfig.
  const builds = {
    'per-table sgd': () =>
      new EmbeddingBagCollection({
        tables: goldenTables(g).map((t) => ({ ...t, optimizer: { sgd: { lr: 1 } } })),
        isWeighted: g.ebc.is_weighted,
        seed: 1,
        stochasticRounding: false, // pins FBGEMM's math with round-to-nearest fp16 writes
      }),
    'collection EmbeddingOptimizerConfig': () =>
      new EmbeddingBagCollection({
        tables: goldenTables(g),
        isWeighted: g.ebc.is_weighted,
        seed: 1,
        stochasticRounding: false, // pins FBGEMM's math with round-to-nearest fp16 writes
        optimizer: { init_learning_rate: 1 },
      }),
  };

  test.each([
    ['per-table sgd', 'lengths'],
    ['collection EmbeddingOptimizerConfig', 'offsets'],
  ] as const)('%s, KJT from %s: weights_after = weights - weight_grads on touched rows only', async (build, layout) => {
    const ebc = builds[build]();
    for (const [table, w] of Object.entries(g.weights)) ebc.setWeights(table, Float32Array.from(w.data.flat()));
    await ebc.backward(goldenKjt(g, layout), Float32Array.from(g.grad!.G.flat()));
    expect(ebc.step).toBe(1);

    for (const t of g.ebc.tables) {
      const before = g.weights[t.name].data;
      const grads = g.grad!.weight_grads[t.name].data;
      const after = ebc.getWeights(t.name);
      const touched = touchedRows(g, t.name);
      const dim = t.embedding_dim;
      for (let r = 0; r < t.num_embeddings; r++) {
        for (let d = 0; d < dim; d++) {
          const got = after[r * dim + d];
          if (!touched.has(r)) {
            // Untouched rows never move, bit for bit, and TorchRec agrees they have no gradient.
            expect(got).toBe(before[r][d]);
            expect(grads[r][d]).toBe(0);
            continue;
          }
          const want = before[r][d] - grads[r][d];
          // fp32: the golden's own agreement (README: atol 1e-5). fp16: the new row is rounded to fp16
          // once (half an fp16 ulp of the result) and TorchRec's weight_grads are themselves fp16
          // (half an ulp of the gradient); one ulp at the larger magnitude bounds both, <= 3.9e-3 here.
          const tol = t.data_type === 'FP16' ? fp16Ulp(Math.max(Math.abs(want), Math.abs(grads[r][d]))) : 1e-5;
          if (Math.abs(got - want) > tol) {
            throw new Error(`${t.name}[${r}][${d}]: got ${got}, want ${want} (tolerance ${tol})`);
          }
        }
      }
    }
  });
});
