/**
 * The fused sparse backward (grouping by row, per-row gradient sums, threads splitting the rows)
 * against a straightforward reference written out here: every occurrence's gradient added to a
 * dense per-table gradient, then the optimizer applied to every row with a non-zero occurrence
 * count, all in float32 and in the order the kernel promises, so the weights must agree bit for bit. Random shapes: dims not divisible by 8, tables read by two features, SUM and
 * MEAN, per-value weights, empty bags, huge bags, duplicate-heavy ids, int32 and int64 ids, fp16
 * tables, and batches large enough that the kernel splits the rows across threads (1 and 2 threads).
 */
import { EmbeddingBagCollection, getNumThreads, setNumThreads } from '../../lib';
import { roundToFp16 } from '../helpers/fp16';
import { Rng } from '../helpers/random';
import { RandomBatch, TableCase, randomBatch, rowsPerKey, toKjt } from '../helpers/random_batch';
import { rng } from './helpers';

interface Case {
  tables: TableCase[];
  weighted: boolean;
  /** Key-major: the keys are every table's features, in table order. */
  input: RandomBatch;
  int64: boolean;
}

const DIMS = [1, 3, 7, 8, 13, 16, 33, 64];

function randomCase(seed: number, big: boolean): Case {
  const r = new Rng(seed);
  const numTables = r.int(1, 3);
  const tables: TableCase[] = [];
  for (let t = 0; t < numTables; t++) {
    const features = r.chance(0.3) ? [`t${t}a`, `t${t}b`] : [`t${t}a`];
    tables.push({
      name: `t${t}`,
      num_embeddings: r.pick(big ? [50, 3000, 20000] : [1, 5, 40, 300]),
      embedding_dim: r.pick(DIMS),
      feature_names: features,
      pooling: r.chance(0.5) ? 'SUM' : 'MEAN',
      data_type: r.chance(0.25) ? 'fp16' : 'fp32',
    });
  }
  const batch = big ? r.int(400, 799) : r.int(1, 12);
  // TorchRec allows per-value weights only with SUM pooling.
  const weighted = tables.every((t) => t.pooling === 'SUM') && r.chance(0.6);
  const rows = rowsPerKey(tables);
  const b = randomBatch(r, {
    keys: Object.keys(rows),
    rows,
    batch,
    // Empty bags, now and then (big cases) a huge one, else up to 29 ids.
    length: (g) => {
      const shape = g.next();
      return shape < 0.15 ? 0 : shape < 0.17 && big ? g.int(2000, 3999) : g.int(0, 29);
    },
    // Per key: uniform ids, or a handful of hot rows (duplicates everywhere).
    ids: 'hotKeys',
    weight: weighted ? (g) => g.next() * 2 - 0.5 : undefined,
  });
  return { tables, weighted, input: b, int64: r.chance(0.5) };
}

const f32 = Math.fround;

/**
 * Each table's dense gradient [rows][dim] and how many occurrences hit each row. The sums are float32
 * in CSR order (feature, sample, position), the order the kernel promises for each row whatever the
 * thread count, so the expected weights are bit-exact, not approximately right.
 */
function referenceGrads(c: Case, grad: Float32Array): { grad: Float32Array; hits: Int32Array }[] {
  const out = c.tables.map((t) => ({
    grad: new Float32Array(t.num_embeddings * t.embedding_dim),
    hits: new Int32Array(t.num_embeddings),
  }));
  const columns = new Map<string, number>();
  let width = 0;
  for (const t of c.tables) {
    for (const f of t.feature_names) {
      columns.set(f, width);
      width += t.embedding_dim;
    }
  }
  const { keys, batch, lengths, values, weights } = c.input;
  let offset = 0;
  keys.forEach((key, k) => {
    const ti = c.tables.findIndex((t) => t.feature_names.includes(key));
    const t = c.tables[ti];
    const dim = t.embedding_dim;
    const g = out[ti].grad;
    for (let b = 0; b < batch; b++) {
      const len = lengths[k * batch + b];
      const bagScale = t.pooling === 'MEAN' && len > 0 ? f32(1 / len) : 1;
      const src = b * width + columns.get(key)!;
      for (let i = offset; i < offset + len; i++) {
        const row = values[i];
        // The kernel reads the weights as float32.
        const scale = weights ? f32(f32(weights[i]) * bagScale) : bagScale;
        out[ti].hits[row]++;
        for (let d = 0; d < dim; d++) g[row * dim + d] = f32(g[row * dim + d] + f32(scale * grad[src + d]));
      }
      offset += len;
    }
  });
  return out;
}

const LR = f32(0.05);
const EPS = f32(1e-8);

/** optimizer_math.h's sum_of_squares: eight interleaved float32 partial sums, combined as a tree. */
function sumOfSquares(x: Float32Array): number {
  const p = new Float32Array(8);
  x.forEach((v, i) => (p[i % 8] = f32(p[i % 8] + f32(v * v))));
  return f32(f32(f32(p[0] + p[1]) + f32(p[2] + p[3])) + f32(f32(p[4] + p[5]) + f32(p[6] + p[7])));
}

/** The step FBGEMM's rules take for one row in float32, as optimizer_sgd.cc / optimizer_adagrad.cc. */
function updateRow(opt: 'sgd' | 'rowwise_adagrad', w: Float32Array, g: Float32Array, m: Float32Array, r: number) {
  const dim = g.length;
  let mult = LR;
  if (opt === 'rowwise_adagrad') {
    m[r] = f32(m[r] + f32(sumOfSquares(g) / dim));
    mult = f32(LR / f32(f32(Math.sqrt(m[r])) + EPS));
  }
  for (let d = 0; d < dim; d++) w[d] = f32(w[d] - f32(mult * g[d]));
}

async function checkCase(c: Case, optimizer: 'sgd' | 'rowwise_adagrad', seed: number): Promise<string[]> {
  const config = optimizer === 'sgd' ? { sgd: { lr: 0.05 } } : { rowwise_adagrad: { lr: 0.05, eps: 1e-8 } };
  const ebc = new EmbeddingBagCollection({
    tables: c.tables.map((t) => ({ ...t, optimizer: config })),
    isWeighted: c.weighted,
    seed,
    stochasticRounding: false, // pins FBGEMM's math with round-to-nearest fp16 writes
  });
  const width = c.tables.reduce((s, t) => s + t.embedding_dim * t.feature_names.length, 0);
  const next = rng(seed ^ 0x5bd1e995);
  const want = c.tables.map((t) => ebc.getWeights(t.name));
  const state = c.tables.map((t) => new Float32Array(t.num_embeddings));
  const problems: string[] = [];
  const kjt = toKjt(c.input, { int64: c.int64 });
  for (let step = 0; step < 2; step++) {
    const grad = Float32Array.from({ length: c.input.batch * width }, () => next() * 2 - 1);
    await ebc.backward(kjt, grad);
    referenceGrads(c, grad).forEach(({ grad: g, hits }, ti) => {
      const dim = c.tables[ti].embedding_dim;
      for (let r = 0; r < hits.length; r++) {
        if (hits[r] === 0) continue;
        const w = want[ti].subarray(r * dim, (r + 1) * dim);
        updateRow(optimizer, w, g.subarray(r * dim, (r + 1) * dim), state[ti], r);
        if (c.tables[ti].data_type === 'fp16') w.forEach((x, d) => (w[d] = roundToFp16(x)));
      }
    });
  }
  c.tables.forEach((t, ti) => {
    const got = ebc.getWeights(t.name);
    const bad = got.findIndex((x, i) => !Object.is(x, want[ti][i]));
    if (bad >= 0) {
      const [r, d] = [Math.floor(bad / t.embedding_dim), bad % t.embedding_dim];
      problems.push(
        `seed ${seed} ${optimizer} ${t.name} (${t.data_type}) [${r}][${d}]: got ${got[bad]}, want ${want[ti][bad]}`,
      );
    }
    if (optimizer === 'rowwise_adagrad') {
      const m = ebc.optimizerState(t.name).momentum1;
      const r = m.findIndex((x, i) => !Object.is(x, state[ti][i]));
      if (r >= 0) problems.push(`seed ${seed} ${t.name} momentum1[${r}]: got ${m[r]}, want ${state[ti][r]}`);
    }
  });
  ebc.dispose();
  return problems;
}

const SMALL_SEEDS = Array.from({ length: 40 }, (_, i) => 1000 + i);
const BIG_SEEDS = Array.from({ length: 8 }, (_, i) => 2000 + i);

describe.each([1, 2])('%i thread(s)', (threads) => {
  const saved = getNumThreads();
  beforeAll(() => setNumThreads(threads));
  afterAll(() => setNumThreads(saved));

  test.each(['sgd', 'rowwise_adagrad'] as const)('%s: small random cases match the reference', async (opt) => {
    const problems: string[] = [];
    for (const seed of SMALL_SEEDS) problems.push(...(await checkCase(randomCase(seed, false), opt, seed)));
    expect(problems).toEqual([]);
  });

  test.each(['sgd', 'rowwise_adagrad'] as const)(
    '%s: big cases (thousands of ids a table, huge bags, hot rows) match the reference',
    async (opt) => {
      const problems: string[] = [];
      let largest = 0;
      for (const seed of BIG_SEEDS) {
        const c = randomCase(seed, true);
        largest = Math.max(largest, c.input.values.length);
        problems.push(...(await checkCase(c, opt, seed)));
      }
      expect(problems).toEqual([]);
      // Big enough that the kernel splits the rows of a table across threads.
      expect(largest).toBeGreaterThan(20000);
    },
    60000,
  );
});
