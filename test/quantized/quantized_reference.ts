/**
 * Shared by the quantized tests and their child process: a line-for-line TS transcription of FBGEMM's
 * FloatOrHalfToFusedNBitRowwiseQuantizedSBHalfRef (src/QuantUtils.cc) in float32 arithmetic, random
 * tables with the rows that stress it, and random pooled-lookup cases for the kernel comparisons.
 */
import { DataType, EmbeddingBagCollection, KeyedJaggedTensor, PoolingType } from '../../lib';
import { floatToHalf, halfToFloat } from '../../lib/checkpoint/dtypes';
import { Rng } from '../helpers/random';

const f = Math.fround;

/** lrintf under the default rounding mode: to nearest, ties to even. */
function lrint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One row in the TBE layout: [scale fp16][bias fp16][codes]. */
export function quantizeRowRef(row: Float32Array, bits: number): Uint8Array {
  const perByte = 8 / bits;
  const out = new Uint8Array(4 + Math.ceil(row.length / perByte));
  let minimum = f(Math.min(...row));
  const maximum = f(Math.max(...row));
  const minimumHalf = floatToHalf(minimum);
  minimum = halfToFloat(minimumHalf);
  const range = f(maximum - minimum);
  let scale = range === 0 ? 1 : f(range / ((1 << bits) - 1));
  scale = halfToFloat(floatToHalf(scale));
  if (scale === 0) scale = 1;
  let inverse = f(1 / scale);
  if (!Number.isFinite(inverse)) {
    scale = 1;
    inverse = 1;
  }
  const view = new DataView(out.buffer);
  view.setUint16(0, floatToHalf(scale), true);
  view.setUint16(2, minimumHalf, true);
  for (let col = 0; col < row.length; col++) {
    const q = Math.max(0, Math.min(lrint(f(f(row[col] - minimum) * inverse)), (1 << bits) - 1));
    out[4 + Math.floor(col / perByte)] |= q << ((col % perByte) * bits);
  }
  return out;
}

export const BITS: Record<string, number> = { [DataType.INT8]: 8, [DataType.INT4]: 4, [DataType.INT2]: 2 };

/**
 * A [rows][dim] table whose rows mix what the quantizer must get right: random normal rows, constant
 * rows, all-negative rows, huge ranges (scales near and past fp16's range), tiny ranges (subnormal
 * scales) and rows built so that (x - bias) / scale lands exactly on .5 ties.
 */
export function stressTable(rows: number, dim: number, bits: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(rows * dim);
  const top = (1 << bits) - 1;
  for (let i = 0; i < rows; i++) {
    const row = out.subarray(i * dim, (i + 1) * dim);
    const kind = i % 7;
    for (let d = 0; d < dim; d++) {
      const u = r.next() * 2 - 1;
      switch (kind) {
        case 0:
          row[d] = u;
          break;
        case 1:
          row[d] = 0.375;
          break; // constant
        case 2:
          row[d] = -5 - 3 * r.next();
          break; // negative
        case 3:
          row[d] = u * 1e5 * (1 + (i % 3));
          break; // huge: int2/int4 scales overflow fp16
        case 4:
          row[d] = 1e-6 * u;
          break; // tiny: subnormal scale
        case 5:
          row[d] = d === 0 ? 0 : d === 1 ? top : ((d * 7) % top) + 0.5;
          break; // ties at .5
        default:
          row[d] = 100 + 10 * u;
          break;
      }
    }
  }
  return out;
}

export interface PoolCase {
  dtype: DataType;
  rows: number;
  dim: number;
  batch: number;
  mean: boolean;
  weighted: boolean;
  int64: boolean;
  ids: number[];
  lengths: number[];
  weights: number[];
  table: Float32Array;
}

/**
 * A random pooled lookup: dims with and without an 8-column tail (half of them multiples of 16, the
 * AVX-512 path's int8/int4 dims), empty and long bags, duplicate ids.
 */
export function randomPoolCase(seed: number, big = false): PoolCase {
  const r = new Rng(seed);
  const dtype = r.pick([DataType.INT8, DataType.INT4, DataType.INT2]);
  const unit = 8 / BITS[dtype];
  const dim = r.chance(0.5) ? 16 * r.int(1, big ? 10 : 12) : unit * r.int(1, big ? 40 : 50);
  const rows = r.int(1, big ? 3000 : 300);
  const batch = big ? r.int(500, 1500) : r.int(1, 40);
  const weighted = r.chance(0.4);
  const mean = !weighted && r.chance(0.5);
  const lengths: number[] = [];
  const ids: number[] = [];
  const weights: number[] = [];
  for (let b = 0; b < batch; b++) {
    const n = r.chance(0.1) ? 0 : r.int(1, big ? 40 : r.chance(0.1) ? 100 : 8);
    lengths.push(n);
    for (let k = 0; k < n; k++) {
      ids.push(r.chance(0.2) && ids.length > 0 ? ids[ids.length - 1] : r.int(0, rows - 1));
      weights.push(r.next() * 4 - 2);
    }
  }
  const table = new Float32Array(rows * dim);
  for (let i = 0; i < table.length; i++) table[i] = (r.next() * 2 - 1) * (1 + (i % 5));
  return { dtype, rows, dim, batch, mean, weighted, int64: r.chance(0.5), ids, lengths, weights, table };
}

/** The collection of a case: one table, quantized from its float32 values. */
export function caseCollection(c: PoolCase): EmbeddingBagCollection {
  const source = new EmbeddingBagCollection({
    tables: [
      {
        name: 't',
        num_embeddings: c.rows,
        embedding_dim: c.dim,
        feature_names: ['f'],
        pooling: c.mean ? PoolingType.MEAN : PoolingType.SUM,
      },
    ],
    isWeighted: c.weighted,
    seed: 1,
  });
  source.setWeights('t', c.table);
  const q = source.quantize(c.dtype);
  source.dispose();
  return q;
}

export function caseKjt(c: PoolCase): KeyedJaggedTensor {
  return KeyedJaggedTensor.fromLengths({
    keys: ['f'],
    values: c.int64 ? BigInt64Array.from(c.ids.map(BigInt)) : Int32Array.from(c.ids),
    lengths: Int32Array.from(c.lengths),
    weights: c.weighted ? Float32Array.from(c.weights) : undefined,
  });
}

export const KERNEL_SEEDS = Array.from({ length: 24 }, (_, i) => 1000 + i);
export const BIG_KERNEL_SEEDS = [77, 78, 79];

function hexOf(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('hex');
}

/**
 * One forward over a collection of tables of every kind the kernels split between paths (int4 and
 * int8 at dims the AVX-512 path takes, int8 with a tail and int2, which it hands to the AVX2 path),
 * read by features in an interleaved order, weighted or not: the output as hex of its float32 bits.
 */
export async function mixedCaseOutput(seed: number): Promise<string> {
  const r = new Rng(seed);
  const kinds: Array<[DataType, number]> = [
    [DataType.INT4, 16 * r.int(1, 8)],
    [DataType.INT8, 16 * r.int(1, 8)],
    [DataType.INT8, 8 * r.int(1, 10) + r.int(1, 7)],
    [DataType.INT2, 16 * r.int(1, 8)],
  ];
  const rows = r.int(50, 400);
  const batch = r.int(200, 700);
  const weighted = r.chance(0.5);
  const source = new EmbeddingBagCollection({
    tables: kinds.map(([, dim], t) => ({
      name: `t${t}`,
      num_embeddings: rows,
      embedding_dim: dim,
      feature_names: [`f${t}`],
      pooling: !weighted && r.chance(0.5) ? PoolingType.MEAN : PoolingType.SUM,
    })),
    isWeighted: weighted,
    seed: 1,
  });
  const types: Record<string, DataType> = {};
  kinds.forEach(([dtype, dim], t) => {
    const values = new Float32Array(rows * dim);
    for (let i = 0; i < values.length; i++) values[i] = (r.next() * 2 - 1) * (1 + (i % 3));
    source.setWeights(`t${t}`, values);
    types[`t${t}`] = dtype;
  });
  const ebc = source.quantize(types);
  source.dispose();
  const keys = [3, 0, 2, 1].map((t) => `f${t}`);
  const lengths: number[] = [];
  const ids: number[] = [];
  for (let i = 0; i < keys.length * batch; i++) {
    const n = r.chance(0.1) ? 0 : r.int(1, 30);
    lengths.push(n);
    for (let k = 0; k < n; k++) ids.push(r.int(0, rows - 1));
  }
  const kjt = KeyedJaggedTensor.fromLengths({
    keys,
    values: Int32Array.from(ids),
    lengths: Int32Array.from(lengths),
    weights: weighted ? Float32Array.from(ids, () => r.next() * 4 - 2) : undefined,
  });
  const out = hexOf((await ebc.forward(kjt)).values());
  ebc.dispose();
  return out;
}

export const MIXED_SEEDS = [501, 502, 503, 504];

/** Each case's pooled output as hex of its float32 bits: compared across processes bit for bit. */
export async function caseOutputs(seeds: number[], big: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const seed of seeds) {
    const c = randomPoolCase(seed, big);
    const ebc = caseCollection(c);
    const values = (await ebc.forward(caseKjt(c))).values();
    out.push(hexOf(values));
    ebc.dispose();
  }
  return out;
}
