/**
 * When the CUDA tests run, and the reason shown in their titles when they do not. They run when the
 * build has CUDA (buildInfo().cuda) or when TORCHREC_TEST_CUDA=1 (scripts/gpu-check.sh sets it, so a
 * build that silently lost its CUDA path fails there instead of skipping).
 */
import { buildInfo, EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { Rng } from '../helpers/random';
import { randomBatch, rowsPerKey, TableCase, toKjt } from '../helpers/random_batch';

export const FORCED = process.env.TORCHREC_TEST_CUDA === '1';
export const CUDA_BUILD = buildInfo().cuda;
export const GPU = FORCED || CUDA_BUILD;

export const NO_GPU_REASON = 'this build has no CUDA — run scripts/gpu-check.sh on a GPU machine';

export { describeIf } from '../helpers/skip';

export { Rng } from '../helpers/random';

/** The random table type of every randomised test. */
export type RandomTable = TableCase;

/**
 * Tables covering every load path of the CUDA forward kernel: dims that are and are not multiples
 * of 4 and 8, a dim above 4 x 32 (a warp loops over chunks), fp32 and fp16, SUM and MEAN, and one
 * feature read by two tables.
 */
export function kernelCoverageTables(weighted: boolean): RandomTable[] {
  const dims = [1, 3, 4, 8, 12, 16, 33, 64, 128, 136, 260];
  const tables: RandomTable[] = dims.flatMap((dim, i) =>
    (['fp32', 'fp16'] as const).map((data_type, j) => ({
      name: `t${i}_${data_type}`,
      num_embeddings: 50 + 13 * i,
      embedding_dim: dim,
      data_type,
      pooling: !weighted && (i + j) % 2 === 1 ? ('MEAN' as const) : ('SUM' as const),
      feature_names: [`f${i}_${j}`],
    })),
  );
  tables[0].feature_names.push('shared');
  tables[3].feature_names.push('shared');
  return tables;
}

/** A KJT over every feature of `tables`: bag lengths 0..maxLen, ids in range for every reader. */
export function randomKjt(
  tables: RandomTable[],
  batch: number,
  maxLen: number,
  r: Rng,
  o: { weighted: boolean; int32: boolean },
): KeyedJaggedTensor {
  const rows = rowsPerKey(tables);
  const b = randomBatch(r, {
    keys: Object.keys(rows),
    rows,
    batch,
    length: maxLen,
    weight: o.weighted ? (g) => g.next() * 2 - 1 : undefined,
  });
  return toKjt(b, { int64: !o.int32 });
}

/** A CPU and a CUDA collection over the same tables with the same weights. */
export function cpuAndCuda(
  tables: object[],
  o: { isWeighted?: boolean; seed?: number } = {},
): { cpu: EmbeddingBagCollection; cuda: EmbeddingBagCollection } {
  const cpu = new EmbeddingBagCollection({ tables, isWeighted: o.isWeighted ?? false, seed: o.seed ?? 3 });
  const cuda = new EmbeddingBagCollection({
    tables,
    isWeighted: o.isWeighted ?? false,
    seed: o.seed ?? 3,
    device: 'cuda',
  });
  for (const t of tables as { name: string }[]) cuda.setWeights(t.name, cpu.getWeights(t.name));
  return { cpu, cuda };
}
