/** Every TorchRec golden EBC case through the public API, errors included. */
import { EmbeddingBagCollection, LargeEmbeddings, TorchrecError } from '../../lib';
import {
  goldenCaseFiles,
  goldenEbc,
  goldenKjt,
  goldenTables,
  loadGolden,
  maxAbsDiff,
  toleranceFor,
} from '../helpers/golden';

const files = goldenCaseFiles();

test('golden cases are present', () => {
  expect(files.length).toBeGreaterThanOrEqual(13);
});

describe.each(files)('%s', (file) => {
  const g = loadGolden(file);

  if (g.case === 'weighted_mean_error') {
    test('weighted + MEAN is rejected at construction with ERR_INVALID_CONFIG', () => {
      const build = () => new EmbeddingBagCollection({ tables: goldenTables(g), isWeighted: true });
      expect(build).toThrow(TorchrecError);
      expect(build).toThrow(/tables\[0\]\.pooling: MEAN pooling cannot be used with per-value weights/);
      try {
        build();
      } catch (e) {
        expect((e as TorchrecError).code).toBe('ERR_INVALID_CONFIG');
      }
    });
    return;
  }

  if (g.case === 'missing_feature_error') {
    test('a feature a table reads but the KJT lacks is ERR_MISSING_FEATURE', async () => {
      const ebc = goldenEbc(g);
      await expect(ebc.forward(goldenKjt(g))).rejects.toMatchObject({
        code: 'ERR_MISSING_FEATURE',
        message: expect.stringContaining('"f2"'),
      });
      expect(() => ebc.forwardSync(goldenKjt(g))).toThrow(expect.objectContaining({ code: 'ERR_MISSING_FEATURE' }));
    });
    return;
  }

  const expected = g.expected!;
  const tol = toleranceFor(g);

  test('output keys, lengths and offsets match TorchRec', () => {
    const ebc = goldenEbc(g);
    expect(ebc.outputKeys()).toEqual(expected.keys);
    const kt = ebc.forwardSync(goldenKjt(g));
    expect(kt.keys()).toEqual(expected.keys);
    expect(kt.lengthPerKey()).toEqual(expected.length_per_key);
    expect(kt.offsetPerKey()).toEqual(expected.offset_per_key);
    expect(kt.stride()).toBe(g.kjt.stride);
  });

  test.each(['lengths', 'offsets'] as const)('forward (async, KJT from %s) matches TorchRec', async (layout) => {
    const kt = await goldenEbc(g).forward(goldenKjt(g, layout));
    expect(kt.values()).toBeInstanceOf(Float32Array);
    expect(maxAbsDiff(kt.values(), expected.values.flat())).toBeLessThanOrEqual(tol);
  });

  test('forwardSync matches TorchRec and toDict splits the blocks', () => {
    const kt = goldenEbc(g).forwardSync(goldenKjt(g));
    expect(maxAbsDiff(kt.values(), expected.values.flat())).toBeLessThanOrEqual(tol);
    const dict = kt.toDict();
    expected.keys.forEach((key, k) => {
      const start = expected.offset_per_key[k];
      const block = expected.values.flatMap((row) => row.slice(start, start + expected.length_per_key[k]));
      expect(maxAbsDiff(dict[key], block)).toBeLessThanOrEqual(tol);
    });
  });

  test('weights read back exactly as set', () => {
    const ebc = goldenEbc(g);
    for (const [table, w] of Object.entries(g.weights)) {
      // The golden weights are exactly representable in their dtype, so they must come back bit-exact.
      expect(ebc.getWeights(table)).toBeInstanceOf(Float32Array);
      expect(maxAbsDiff(ebc.getWeights(table), w.data.flat())).toBe(0);
    }
  });

  if (!g.ebc.is_weighted) {
    test('LargeEmbeddings over the same tables gives the same output', async () => {
      const le = new LargeEmbeddings({ tables: goldenTables(g) });
      for (const [table, w] of Object.entries(g.weights)) le.ebc.setWeights(table, Float32Array.from(w.data.flat()));
      const kt = await le.forward(goldenKjt(g));
      expect(maxAbsDiff(kt.values(), expected.values.flat())).toBeLessThanOrEqual(tol);
    });
  }
});

test('construct_errors: a duplicate table name is rejected naming the table', () => {
  const g = loadGolden<{ duplicate_table_name: { tables: object[]; error: { message: string } } }>(
    'ebc_construct_errors.json',
  );
  const build = () => new EmbeddingBagCollection({ tables: g.duplicate_table_name.tables });
  expect(build).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG' }));
  expect(build).toThrow(/tables\[1\]\.name: duplicate table name "t"/);
});
