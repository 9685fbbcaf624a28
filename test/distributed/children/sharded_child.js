/**
 * One rank of a sharded-collection scenario: `node sharded_child.js <scenario> <JSON args>`, rank and
 * world from torchrun's variables. Every rank's local batch of step k is a pure function of (case,
 * rank, k), so each rank also builds the GLOBAL batch (the ranks' batches concatenated in rank order)
 * and runs it through an unsharded collection with the same seed: the reference. It reports how far
 * the sharded results are from it; the test asserts on those numbers. Prints one JSON line last.
 */
'use strict';
const { args, errorOf, runScenario } = require('./rank_kit.js');
const { EmbeddingBagCollection } = require('../../../lib/ebc.ts');
const { KeyedJaggedTensor } = require('../../../lib/kjt.ts');
// The tests' one seeded generator, the same stream on every rank.
const { rng } = require('../../helpers/random.ts');

/** Rank r's batch of step k: B samples; each feature of `tables` gets 0..3 ids per bag. */
function localBatch(c, r, k, B) {
  const rand = rng(c.seed * 1000003 + r * 7919 + k * 104729);
  const keys = [];
  const lengths = [];
  const values = [];
  const weights = [];
  for (const t of c.tables) {
    for (const f of t.feature_names ?? [t.name]) {
      if (keys.includes(f)) continue; // a feature several tables read (feature@table): one key, ids for all
      keys.push(f);
      const rows = Math.min(
        ...c.tables.filter((u) => (u.feature_names ?? [u.name]).includes(f)).map((u) => u.num_embeddings),
      );
      for (let b = 0; b < B; b++) {
        const len = Math.floor(rand() * 4);
        lengths.push(len);
        for (let i = 0; i < len; i++) {
          values.push(Math.floor(rand() * rows));
          weights.push(rand() * 2 - 0.5);
        }
      }
    }
  }
  const grad = Float32Array.from({ length: B * c.width }, () => rand() * 2 - 1);
  return { keys, lengths, values, weights, B, grad };
}

function toKjt(c, parts) {
  // Key-major concatenation of several ranks' batches: key by key, rank by rank.
  const keys = parts[0].keys;
  const lengths = [];
  const values = [];
  const weights = [];
  for (let key = 0; key < keys.length; key++) {
    for (const p of parts) {
      let start = 0;
      for (let i = 0; i < key * p.B; i++) start += p.lengths[i];
      for (let b = 0; b < p.B; b++) {
        const len = p.lengths[key * p.B + b];
        lengths.push(len);
        values.push(...p.values.slice(start, start + len));
        weights.push(...p.weights.slice(start, start + len));
        start += len;
      }
    }
  }
  const stride = parts.reduce((s, p) => s + p.B, 0);
  return KeyedJaggedTensor.fromLengths({
    keys,
    values: BigInt64Array.from(values, BigInt),
    lengths: Int32Array.from(lengths),
    weights: c.isWeighted ? Float32Array.from(weights) : undefined,
    stride,
  });
}

/** Largest |a - b|, and the largest excess over the row-wise tolerance 1e-5 + 1.3e-6 |b|. */
function compare(a, b) {
  let maxDiff = a.length === b.length ? 0 : Infinity;
  let excess = a.length === b.length ? -Infinity : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxDiff)) maxDiff = d;
    const e = d - (1e-5 + 1.3e-6 * Math.abs(b[i]));
    if (!(e <= excess)) excess = e;
  }
  return { maxDiff, excess };
}

function worst(list) {
  return list.reduce((w, x) => ({ maxDiff: Math.max(w.maxDiff, x.maxDiff), excess: Math.max(w.excess, x.excess) }), {
    maxDiff: 0,
    excess: -Infinity,
  });
}

async function runCase(pg, c) {
  const W = pg.worldSize;
  const r = pg.rank;
  const tables = c.tables.map((t) => ({ ...t, optimizer: c.optimizer }));
  const options = { tables, isWeighted: !!c.isWeighted, seed: c.seed, vocabOov: c.vocabOov };
  const sharded = new EmbeddingBagCollection({
    ...options,
    processGroup: pg,
    plan: c.plan,
    gradientDivision: c.gradientDivision,
  });
  const ref = new EmbeddingBagCollection(options);
  await Promise.all([sharded.ready, ref.ready]);
  c.width = c.tables.reduce((s, t) => s + t.embedding_dim * (t.feature_names ?? [t.name]).length, 0);
  const out = { initial: [], forward: [], weights: [], state: [], steps: 0 };
  for (const t of c.tables) out.initial.push(compare(await sharded.getWeights(t.name), ref.getWeights(t.name)));
  for (let k = 0; k < c.steps; k++) {
    const sizes = Array.from({ length: W }, (_, s) => c.batchSizes[(s + k) % c.batchSizes.length]);
    const parts = sizes.map((B, s) => localBatch(c, s, k, B));
    const mine = toKjt(c, [parts[r]]);
    const global = toKjt(c, parts);
    const got = await sharded.forward(mine);
    const want = await ref.forward(global);
    const before = sizes.slice(0, r).reduce((a, b) => a + b, 0);
    out.forward.push(compare(got.values(), want.values().slice(before * c.width, (before + sizes[r]) * c.width)));
    if (c.optimizer) {
      const g = new Float32Array(parts.reduce((s, p) => s + p.grad.length, 0));
      let at = 0;
      for (const p of parts) {
        for (const x of p.grad) g[at++] = c.gradientDivision === false ? x : Math.fround(x / W);
      }
      await Promise.all([sharded.backward(mine, parts[r].grad), ref.backward(global, g)]);
      out.steps = sharded.step;
    }
  }
  for (const t of c.tables) {
    out.weights.push(compare(await sharded.getWeights(t.name), ref.getWeights(t.name)));
    const s = await sharded.optimizerState(t.name);
    const want = ref.optimizerState(t.name);
    out.state.push(Object.keys(want).length === Object.keys(s).length ? 0 : Infinity);
    for (const name of Object.keys(want)) out.state.push(compare(s[name], want[name]).maxDiff);
  }
  // tableNorms: every row, a sample with a given seed, and a sample with rank 0's random seed.
  const names = c.tables.map((t) => t.name);
  const norms = [];
  for (const o of [{}, { sampleRows: 3, seed: 5 }]) {
    const [got, want] = [await sharded.tableNorms(names, o), await ref.tableNorms(names, o)];
    norms.push(...names.map((n) => Math.abs(got[n] - want[n])));
  }
  const randomNorms = await sharded.tableNorms(names, { sampleRows: 3 });
  const vocab = { sharded: sharded.vocabStats(), ref: ref.vocabStats() };
  sharded.dispose();
  ref.dispose();
  return {
    norms: Math.max(...norms),
    randomNorms,
    vocab,
    initial: worst(out.initial).maxDiff,
    forward: worst(out.forward),
    weights: worst(out.weights).maxDiff,
    state: Math.max(0, ...out.state),
    steps: out.steps,
  };
}

/** Each of `tries` ({ tables, plan }) built sharded: its error (code, message) or null. */
async function tryPlans(pg, tries) {
  const errors = [];
  for (const { tables, plan } of tries) {
    try {
      new EmbeddingBagCollection({ tables, seed: 1, processGroup: pg, plan }).dispose();
      errors.push(null);
    } catch (e) {
      errors.push(errorOf(e));
    }
  }
  await pg.barrier(); // still usable: nobody entered a collective
  return errors;
}

/**
 * column_wise with a row-wise optimizer keeps its per-row values per column shard (README "Scaling
 * out"): the reference is one process whose table is split into S tables of dim / S columns (each
 * read by a copy of the feature), started from the sharded table's column blocks. Both round fp16 to
 * nearest: stochastic rounding keys its bits by table and column, which the split tables renumber.
 */
async function runSplitCase(pg, c) {
  const W = pg.worldSize;
  const r = pg.rank;
  const [t] = c.tables;
  const S = c.shards;
  const cols = t.embedding_dim / S;
  const sharded = new EmbeddingBagCollection({
    tables: [{ ...t, optimizer: c.optimizer }],
    seed: c.seed,
    processGroup: pg,
    plan: { [t.name]: 'column_wise' },
    stochasticRounding: false,
  });
  const split = Array.from({ length: S }, (_, i) => ({
    ...t,
    name: `${t.name}_c${i}`,
    embedding_dim: cols,
    feature_names: [`${t.name}_c${i}`],
    optimizer: c.optimizer,
  }));
  const ref = new EmbeddingBagCollection({ tables: split, seed: c.seed, stochasticRounding: false });
  const whole = await sharded.getWeights(t.name);
  // Columns [i * cols, (i + 1) * cols) of a row-major [rows][width] matrix.
  const block = (m, i, width) => {
    const rows = m.length / width;
    const b = new Float32Array(rows * cols);
    for (let row = 0; row < rows; row++)
      b.set(m.subarray(row * width + i * cols, row * width + (i + 1) * cols), row * cols);
    return b;
  };
  for (let i = 0; i < S; i++) ref.setWeights(split[i].name, block(whole, i, t.embedding_dim));
  // One feature per split table, each with the same bags: the output is the sharded one's layout.
  const dup = (p) => ({
    ...p,
    keys: split.map((s) => s.name),
    lengths: split.flatMap(() => p.lengths),
    values: split.flatMap(() => p.values),
    weights: split.flatMap(() => p.weights),
  });
  c.width = t.embedding_dim;
  const out = { forward: [], weights: [], state: [] };
  for (let k = 0; k < c.steps; k++) {
    const sizes = Array.from({ length: W }, (_, s) => c.batchSizes[(s + k) % c.batchSizes.length]);
    const parts = sizes.map((B, s) => localBatch(c, s, k, B));
    const got = await sharded.forward(toKjt(c, [parts[r]]));
    const global = toKjt(c, parts.map(dup));
    const want = await ref.forward(global);
    const before = sizes.slice(0, r).reduce((a, b) => a + b, 0);
    out.forward.push(compare(got.values(), want.values().slice(before * c.width, (before + sizes[r]) * c.width)));
    const g = Float32Array.from(parts.flatMap((p) => Array.from(p.grad, (x) => Math.fround(x / W))));
    await Promise.all([sharded.backward(toKjt(c, [parts[r]]), parts[r].grad), ref.backward(global, g)]);
  }
  const joined = (m) => {
    const rows = m[0].length / cols;
    return Float32Array.from(
      { length: rows * S * cols },
      (_, x) => m[Math.floor(x / cols) % S][Math.floor(x / (S * cols)) * cols + (x % cols)],
    );
  };
  out.weights.push(compare(await sharded.getWeights(t.name), joined(split.map((s) => ref.getWeights(s.name)))));
  const state = await sharded.optimizerState(t.name);
  const refState = split.map((s) => ref.optimizerState(s.name));
  for (const name of Object.keys(refState[0])) {
    const perRow = refState[0][name].length === t.num_embeddings;
    const want = perRow ? refState[0][name] : joined(refState.map((x) => x[name]));
    out.state.push(compare(state[name], want));
  }
  sharded.dispose();
  ref.dispose();
  return {
    forward: worst(out.forward).maxDiff,
    weights: worst(out.weights).maxDiff,
    state: worst(out.state).maxDiff,
    stateNames: Object.keys(state),
  };
}

/**
 * setWeights / setOptimizerState are local (every rank passes the whole tensor, keeps its part);
 * getWeights / optimizerState gather it back whole: the largest |read - written| over tables and states.
 */
async function writeRead(pg, c) {
  const tables = c.tables.map((t) => ({ ...t, optimizer: c.optimizer }));
  const ebc = new EmbeddingBagCollection({ tables, seed: c.seed, processGroup: pg, plan: c.plan });
  const values = (n, k) => Float32Array.from({ length: n }, (_, i) => Math.fround(((i * 7 + k) % 13) / 8 + 0.125));
  let worstDiff = 0;
  for (const [k, t] of c.tables.entries()) {
    const w = values(t.num_embeddings * t.embedding_dim, k);
    ebc.setWeights(t.name, w);
    worstDiff = Math.max(worstDiff, compare(await ebc.getWeights(t.name), w).maxDiff);
    for (const info of ebc.optimizerStateLayout(t.name)) {
      const s = values(
        info.shape.reduce((a, b) => a * b, 1),
        k + 3,
      );
      ebc.setOptimizerState(t.name, info.name, s);
      worstDiff = Math.max(worstDiff, compare((await ebc.optimizerState(t.name))[info.name], s).maxDiff);
    }
  }
  ebc.dispose();
  return worstDiff;
}

const scenarios = {
  async parity(pg) {
    const results = {};
    for (const c of args.cases) results[c.name] = await runCase(pg, c);
    for (const c of args.splitCases ?? []) results[c.name] = await runSplitCase(pg, c);
    if (args.badPlans) results.badPlans = await tryPlans(pg, args.badPlans);
    for (const c of args.writeReads ?? []) results[c.name] = await writeRead(pg, c);
    return results;
  },

  // Rank `victim` is sent `signal` (default SIGKILL) once the collection is built; the others'
  // forward must reject.
  async lose(pg) {
    const t = { name: 't', embedding_dim: 6, num_embeddings: 10 };
    const plan = { t: args.sharding ?? 'row_wise' };
    const ebc = new EmbeddingBagCollection({ tables: [t], seed: 1, processGroup: pg, plan });
    await pg.barrier();
    if (pg.rank === args.victim) process.kill(process.pid, args.signal ?? 'SIGKILL');
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: Int32Array.of(1, 9), lengths: Int32Array.of(2) });
    const t0 = Date.now();
    try {
      await ebc.forward(kjt);
      return { ok: true, ms: Date.now() - t0 };
    } catch (e) {
      return { ok: false, error: errorOf(e), ms: Date.now() - t0 };
    }
  },

  // A bad plan fails on every rank before any collective.
  async badPlan(pg) {
    const t = { name: 't', embedding_dim: 4, num_embeddings: 10 };
    const tries = [{ nope: 'table_wise' }, { t: 'sideways' }, { t: { sharding_type: 'table_wise', ranks: [7] } }];
    const errors = [];
    for (const plan of tries) {
      try {
        new EmbeddingBagCollection({ tables: [t], seed: 1, processGroup: pg, plan }).dispose();
        errors.push(null);
      } catch (e) {
        errors.push(errorOf(e));
      }
    }
    await pg.barrier(); // still usable: nobody entered a collective
    return { errors };
  },
};

runScenario(scenarios);
