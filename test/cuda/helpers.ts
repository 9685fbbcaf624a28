/**
 * When the CUDA tests run, and the reason shown in their titles when they do not. They run when the
 * build has CUDA (buildInfo().cuda) or when TORCHREC_TEST_CUDA=1 (scripts/gpu-check.sh sets it, so a
 * build that silently lost its CUDA path fails there instead of skipping).
 */
import { buildInfo, EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';

export const FORCED = process.env.TORCHREC_TEST_CUDA === '1';
export const CUDA_BUILD = buildInfo().cuda;
export const GPU = FORCED || CUDA_BUILD;

export const NO_GPU_REASON = 'this build has no CUDA — run scripts/gpu-check.sh on a GPU machine';

export { describeIf } from '../helpers/skip';

export { rng } from '../helpers/random';

export interface RandomTable {
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  data_type: 'FP32' | 'FP16';
  pooling: 'SUM' | 'MEAN';
  feature_names: string[];
}

/**
 * Tables covering every load path of the CUDA forward kernel: dims that are and are not multiples
 * of 4 and 8, a dim above 4 x 32 (a warp loops over chunks), fp32 and fp16, SUM and MEAN, and one
 * feature read by two tables.
 */
export function kernelCoverageTables(weighted: boolean): RandomTable[] {
  const dims = [1, 3, 4, 8, 12, 16, 33, 64, 128, 136, 260];
  const tables: RandomTable[] = dims.flatMap((dim, i) =>
    (['FP32', 'FP16'] as const).map((data_type, j) => ({
      name: `t${i}_${data_type.toLowerCase()}`,
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
  next: () => number,
  o: { weighted: boolean; int32: boolean },
): KeyedJaggedTensor {
  const rowsOf = new Map<string, number>();
  for (const t of tables) {
    for (const f of t.feature_names) rowsOf.set(f, Math.min(rowsOf.get(f) ?? Infinity, t.num_embeddings));
  }
  const keys = [...rowsOf.keys()];
  const lengths: number[] = [];
  const values: number[] = [];
  for (const key of keys) {
    for (let b = 0; b < batch; b++) {
      const len = Math.floor(next() * (maxLen + 1));
      lengths.push(len);
      for (let j = 0; j < len; j++) values.push(Math.floor(next() * (rowsOf.get(key) as number)));
    }
  }
  const weights = o.weighted ? Float32Array.from(values, () => next() * 2 - 1) : undefined;
  return KeyedJaggedTensor.fromLengths({
    keys,
    values: o.int32 ? Int32Array.from(values) : BigInt64Array.from(values.map((v) => BigInt(v))),
    lengths: o.int32 ? Int32Array.from(lengths) : BigInt64Array.from(lengths.map((v) => BigInt(v))),
    weights,
  });
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
