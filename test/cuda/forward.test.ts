/**
 * The CUDA forward against the CPU one and against TorchRec's golden vectors: every golden forward
 * case on device 'cuda', then randomized batches over every load path of the kernel (fp32 float4,
 * fp16 half2 x 4 / x 2, scalar tails, sub-warp and whole-warp bags, MEAN, weights, int32/int64 ids),
 * a batch large enough for the grid to stride, and concurrent forwards. Skipped, with the reason in
 * the title, when the build has no CUDA (scripts/gpu-check.sh runs them on a GPU machine).
 */
import { buildInfo, EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings } from '../../lib';
import { goldenCaseFiles, goldenKjt, goldenTables, loadGolden, maxAbsDiff, toleranceFor } from '../helpers/golden';
import {
  cpuAndCuda,
  describeIf,
  GPU,
  kernelCoverageTables,
  NO_GPU_REASON,
  RandomTable,
  randomKjt,
  Rng,
} from './helpers';

const FP32_ATOL = 1e-5; // CUDA vs CPU, fp32 tables
const FP16_ATOL = 2e-3; // fp16 tables: both round once to fp16; an fp32 sum on a rounding tie may land 1 ulp apart

describeIf(GPU, 'CUDA forward', NO_GPU_REASON, () => {
  test('this build has CUDA (buildInfo().cuda)', () => {
    // Fails loudly when TORCHREC_TEST_CUDA=1 forced these tests onto a CPU-only build.
    expect(buildInfo().cuda).toBe(true);
  });

  const files = goldenCaseFiles().filter((f) => loadGolden(f).expected !== null);

  test('golden forward cases are present', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  describe.each(files)('golden %s on cuda', (file) => {
    const g = loadGolden(file);
    const expected = g.expected!;
    const fp16 = g.ebc.tables.some((t) => t.data_type === 'FP16');
    const atol = fp16 ? FP16_ATOL : FP32_ATOL;

    const build = () => {
      const { cpu, cuda } = cpuAndCuda(goldenTables(g), { isWeighted: g.ebc.is_weighted });
      for (const [table, w] of Object.entries(g.weights)) {
        cpu.setWeights(table, Float32Array.from(w.data.flat()));
        cuda.setWeights(table, Float32Array.from(w.data.flat()));
      }
      return { cpu, cuda };
    };

    test('weights read back from the GPU exactly as set', () => {
      const { cuda } = build();
      for (const [table, w] of Object.entries(g.weights)) {
        expect(maxAbsDiff(cuda.getWeights(table), w.data.flat())).toBe(0);
      }
    });

    test.each(['lengths', 'offsets'] as const)(
      'forwardSync and forward (KJT from %s) match CPU and TorchRec',
      async (layout) => {
        const { cpu, cuda } = build();
        const kjt = goldenKjt(g, layout);
        const onCpu = cpu.forwardSync(kjt).values();
        const sync = cuda.forwardSync(kjt);
        expect(sync.keys()).toEqual(expected.keys);
        expect(sync.values()).toBeInstanceOf(Float32Array);
        expect(maxAbsDiff(sync.values(), onCpu)).toBeLessThanOrEqual(atol);
        expect(maxAbsDiff(sync.values(), expected.values.flat())).toBeLessThanOrEqual(toleranceFor(g));
        const async = await cuda.forward(kjt);
        expect(maxAbsDiff(async.values(), onCpu)).toBeLessThanOrEqual(atol);
      },
    );

    if (!g.ebc.is_weighted) {
      test('LargeEmbeddings on cuda gives the same output', async () => {
        const le = new LargeEmbeddings({ tables: goldenTables(g) }, { device: 'cuda' });
        for (const [table, w] of Object.entries(g.weights)) le.ebc.setWeights(table, Float32Array.from(w.data.flat()));
        const kt = await le.forward(goldenKjt(g));
        expect(maxAbsDiff(kt.values(), expected.values.flat())).toBeLessThanOrEqual(toleranceFor(g));
      });
    }
  });

  test('golden errors are the same on cuda: missing feature, id out of range', () => {
    const g = loadGolden('ebc_missing_feature_error.json');
    const ebc = new EmbeddingBagCollection({ tables: goldenTables(g), device: 'cuda' });
    expect(() => ebc.forwardSync(goldenKjt(g))).toThrow(expect.objectContaining({ code: 'ERR_MISSING_FEATURE' }));
    const t = new EmbeddingBagCollection({
      tables: [{ name: 't', num_embeddings: 10, embedding_dim: 4, data_type: 'fp32' }],
      device: 'cuda',
    });
    const bad = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1, 10], lengths: [1, 1] });
    expect(() => t.forwardSync(bad)).toThrow(
      expect.objectContaining({ code: 'ERR_INDEX_OUT_OF_RANGE', message: expect.stringContaining('10') }),
    );
  });

  describe.each([
    ['unweighted, int64 ids', false, false],
    ['unweighted, int32 ids', false, true],
    ['weighted, int64 ids', true, false],
    ['weighted, int32 ids', true, true],
  ] as const)('random batches over every kernel load path (%s)', (_label, weighted, int32) => {
    test.each([1, 7, 64])('B=%i matches CPU', (batch) => {
      const tables = kernelCoverageTables(weighted);
      const { cpu, cuda } = cpuAndCuda(tables, { isWeighted: weighted, seed: batch });
      const kjt = randomKjt(tables, batch, 9, new Rng(1000 * batch + (weighted ? 1 : 0) + (int32 ? 2 : 0)), {
        weighted,
        int32,
      });
      const a = cpu.forwardSync(kjt);
      const b = cuda.forwardSync(kjt);
      expect(b.keys()).toEqual(a.keys());
      const dicts = [a.toDict(), b.toDict()];
      const worse: string[] = [];
      for (const t of tables) {
        const atol = t.data_type === 'fp16' ? FP16_ATOL : FP32_ATOL;
        for (const f of t.feature_names) {
          const key = f in dicts[0] ? f : `${f}@${t.name}`;
          const diff = maxAbsDiff(dicts[1][key], dicts[0][key]);
          if (!(diff <= atol)) worse.push(`${key} (${t.data_type}, D=${t.embedding_dim}, ${t.pooling}): ${diff}`);
        }
      }
      expect(worse).toEqual([]);
    });
  });

  test('a batch of 20000 samples (the grid strides over bags) matches CPU', () => {
    const tables: RandomTable[] = [
      {
        name: 'a',
        num_embeddings: 100000,
        embedding_dim: 64,
        data_type: 'fp32',
        pooling: 'SUM',
        feature_names: ['fa'],
      },
      {
        name: 'b',
        num_embeddings: 50000,
        embedding_dim: 128,
        data_type: 'fp16',
        pooling: 'SUM',
        feature_names: ['fb'],
      },
      { name: 'c', num_embeddings: 1000, embedding_dim: 8, data_type: 'fp32', pooling: 'MEAN', feature_names: ['fc'] },
    ];
    const { cpu, cuda } = cpuAndCuda(tables);
    const kjt = randomKjt(tables, 20000, 20, new Rng(42), { weighted: false, int32: false });
    expect(maxAbsDiff(cuda.forwardSync(kjt).values(), cpu.forwardSync(kjt).values())).toBeLessThanOrEqual(FP16_ATOL);
  });

  test('16 concurrent forwards give the same result as one', async () => {
    const tables = kernelCoverageTables(false);
    const { cpu, cuda } = cpuAndCuda(tables);
    const kjts = Array.from({ length: 16 }, (_, i) =>
      randomKjt(tables, 32, 6, new Rng(i), { weighted: false, int32: i % 2 === 0 }),
    );
    const outs = await Promise.all(kjts.map((k) => cuda.forward(k)));
    outs.forEach((kt, i) =>
      expect(maxAbsDiff(kt.values(), cpu.forwardSync(kjts[i]).values())).toBeLessThanOrEqual(FP16_ATOL),
    );
  });

  test('device "cuda:0" is accepted and an absent device is ERR_DEVICE', () => {
    const tables = [{ name: 't', num_embeddings: 10, embedding_dim: 4, data_type: 'fp32' }];
    expect(() => new EmbeddingBagCollection({ tables, device: 'cuda:0' })).not.toThrow();
    expect(() => new EmbeddingBagCollection({ tables, device: 'cuda:99' })).toThrow(
      expect.objectContaining({ code: 'ERR_DEVICE' }),
    );
  });
});
