/**
 * The CUDA sparse backward + fused optimizers (native/kernels/sparse_update_cuda.cu) through the
 * public API: FBGEMM's golden optimizer runs on device 'cuda', then CUDA against CPU over several
 * steps with duplicate ids inside and across bags and features, shared tables, MEAN, per-value
 * weights, fp16 tables, dims above one thread block, and a very hot row. Skipped, with the reason in
 * the title, when the build has no CUDA.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { maxAbsDiff } from '../helpers/golden';
import { checkGoldenSteps, goldenOptimizerCollection, loadOptimizerGolden, randomGrad } from '../backward/helpers';
import { describeIf, GPU, NO_GPU_REASON, RandomTable, randomKjt, Rng } from './helpers';

const GOLDEN_ATOL = 1e-6; // OPTIMIZERS.md
const FP32_ATOL = 1e-5; // CUDA vs CPU after several steps (reduction order, fused multiply-add)
const FP16_ATOL = 2e-3; // fp16 rows: one fp16 ulp near 1

const OPTIMIZERS: [string, object][] = [
  ['EXACT_SGD', { sgd: { lr: 0.1 } }],
  ['EXACT_ADAGRAD', { adagrad: { lr: 0.1, eps: 1e-8 } }],
  ['EXACT_ROWWISE_ADAGRAD none', { rowwise_adagrad: { lr: 0.1 } }],
  ['EXACT_ROWWISE_ADAGRAD l2', { rowwise_adagrad: { lr: 0.1, weight_decay: 0.05, weight_decay_mode: 'l2' } }],
  [
    'EXACT_ROWWISE_ADAGRAD decoupled',
    { rowwise_adagrad: { lr: 0.1, weight_decay: 0.05, weight_decay_mode: 'decoupled' } },
  ],
  ['ADAM', { adam: { lr: 0.01, eps: 1e-8, weight_decay: 0.05 } }],
  ['PARTIAL_ROWWISE_ADAM', { partial_rowwise_adam: { lr: 0.01, weight_decay: 0.01 } }],
  ['LAMB', { lamb: { lr: 0.01, weight_decay: 0.01 } }],
];

/** Few rows per table, so ids repeat inside bags, across bags and across the features of a table. */
function trainingTables(optimizer: object, weighted: boolean): RandomTable[] {
  const dims = [4, 12, 64, 136, 260];
  const tables = dims.flatMap((dim, i) =>
    (['fp32', 'fp16'] as const).map((data_type, j) => ({
      name: `t${i}_${data_type}`,
      num_embeddings: 24 + 5 * i,
      embedding_dim: dim,
      data_type,
      pooling: !weighted && (i + j) % 2 === 1 ? ('MEAN' as const) : ('SUM' as const),
      feature_names: [`f${i}_${j}`],
    })),
  );
  tables[0].feature_names.push('shared', 'also_t0'); // one table read by three features
  tables[5].feature_names.push('shared'); // one feature read by two tables
  return tables.map((t) => ({ ...t, optimizer }));
}

describeIf(GPU, 'CUDA training', NO_GPU_REASON, () => {
  const golden = loadOptimizerGolden();

  describe.each(golden.scenarios.map((s) => [s.name, s] as const))('golden %s on cuda', (_name, scenario) => {
    const runs = scenario.runs.map((r) => [`${r.optimizer} ${JSON.stringify(r.hparams)}`, r] as const);
    test.each(runs)('%s: weights and states after each step', async (_label, run) => {
      const ebc = goldenOptimizerCollection(golden, scenario, run, 'cuda');
      await checkGoldenSteps(ebc, golden, scenario, run, GOLDEN_ATOL);
    });
  });

  describe.each([
    ['unweighted', false],
    ['weighted', true],
  ] as const)('CUDA matches CPU over 3 steps (%s)', (_label, weighted) => {
    test.each(OPTIMIZERS)('%s', async (_name, optimizer) => {
      const tables = trainingTables(optimizer, weighted);
      // The CUDA store rounds fp16 writes to nearest: compare with the CPU store doing the same.
      const cpu = new EmbeddingBagCollection({ tables, isWeighted: weighted, seed: 11, stochasticRounding: false });
      const cuda = new EmbeddingBagCollection({ tables, isWeighted: weighted, seed: 11, device: 'cuda' });
      for (const t of tables) cuda.setWeights(t.name, cpu.getWeights(t.name));
      const r = new Rng(weighted ? 5 : 6);
      const width = cpu.forwardSync(randomKjt(tables, 1, 1, new Rng(0), { weighted, int32: false })).values().length;
      for (let step = 0; step < 3; step++) {
        const kjt = randomKjt(tables, 9, 7, r, { weighted, int32: step % 2 === 0 });
        const grad = randomGrad(9 * width, () => r.next());
        await cpu.backward(kjt, grad);
        await cuda.backward(kjt, grad);
      }
      const worse: string[] = [];
      for (const t of tables) {
        const atol = t.data_type === 'fp16' ? FP16_ATOL : FP32_ATOL;
        const dw = maxAbsDiff(cuda.getWeights(t.name), cpu.getWeights(t.name));
        if (!(dw <= atol)) worse.push(`${t.name} weights: ${dw}`);
        const a = cpu.optimizerState(t.name);
        const b = cuda.optimizerState(t.name);
        expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
        for (const name of Object.keys(a)) {
          const ds = maxAbsDiff(b[name], a[name]);
          if (!(ds <= atol)) worse.push(`${t.name} ${name}: ${ds}`);
        }
      }
      expect(worse).toEqual([]);
    });
  });

  test('rows not in the batch, and their state, do not change at all', async () => {
    const tables = [
      { name: 't', num_embeddings: 1000, embedding_dim: 32, data_type: 'fp32', optimizer: { adam: { lr: 0.01 } } },
    ];
    const ebc = new EmbeddingBagCollection({ tables, seed: 1, device: 'cuda' });
    const before = ebc.getWeights('t');
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [5, 7, 5, 900], lengths: [3, 1] });
    await ebc.backward(
      kjt,
      Float32Array.from({ length: 2 * 32 }, (_, i) => Math.sin(i)),
    );
    const after = ebc.getWeights('t');
    const m1 = ebc.optimizerState('t').momentum1;
    for (let r = 0; r < 1000; r++) {
      const touched = r === 5 || r === 7 || r === 900;
      const row = after.subarray(r * 32, r * 32 + 32);
      const old = before.subarray(r * 32, r * 32 + 32);
      expect([r, maxAbsDiff(row, old) > 0]).toEqual([r, touched]);
      expect([r, m1.subarray(r * 32, r * 32 + 32).some((x) => x !== 0)]).toEqual([r, touched]);
    }
  });

  test('a row hit 20000 times in one batch (one long segment) matches CPU', async () => {
    const tables = [
      {
        name: 't',
        num_embeddings: 50,
        embedding_dim: 16,
        data_type: 'fp32',
        optimizer: { rowwise_adagrad: { lr: 0.1 } },
      },
    ];
    const cpu = new EmbeddingBagCollection({ tables, seed: 2, stochasticRounding: false });
    const cuda = new EmbeddingBagCollection({ tables, seed: 2, device: 'cuda' });
    cuda.setWeights('t', cpu.getWeights('t'));
    const batch = 1000;
    const values = Int32Array.from({ length: batch * 20 }, (_, i) => (i % 7 === 0 ? i % 50 : 3));
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values, lengths: new Int32Array(batch).fill(20) });
    const grad = Float32Array.from({ length: batch * 16 }, (_, i) => Math.cos(i) * 1e-2);
    await cpu.backward(kjt, grad);
    await cuda.backward(kjt, grad);
    expect(maxAbsDiff(cuda.getWeights('t'), cpu.getWeights('t'))).toBeLessThanOrEqual(FP32_ATOL);
    expect(maxAbsDiff(cuda.optimizerState('t').momentum1, cpu.optimizerState('t').momentum1)).toBeLessThanOrEqual(1e-5);
  });
});
