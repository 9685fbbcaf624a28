/**
 * One rank of a managed-ids sharding scenario: `node managed_child.js <scenario> <JSON args>`, rank
 * and world from torchrun's variables. Every rank's batch of step k is a pure function of (rank, k),
 * so each rank also knows the GLOBAL batch (the ranks' batches in rank order) and computes its own
 * reference: an unsharded collection for table_wise tables (exactly the same map), the TypeScript
 * reference model of the rules, one per shard, for row_wise tables. Prints one JSON line last.
 */
'use strict';
const { args, errorOf, runScenario } = require('./rank_kit.js');
const fs = require('fs');
const { EmbeddingBagCollection } = require('../../../lib/ebc.ts');
const { KeyedJaggedTensor } = require('../../../lib/kjt.ts');
const { Mode } = require('../../../lib/enums.ts');
const { rng } = require('../../helpers/random.ts');
const { ManagedIdsRef } = require('../../managed_ids/reference.ts');

// Raw ids of any int64 value; a few are hot (Zipf-like through the squared uniform draw).
const UNIVERSE = [0n, -5n, 2n ** 62n + 7n, -(2n ** 63n), 2n ** 63n - 1n];
for (let i = 0; UNIVERSE.length < 40; i++) UNIVERSE.push(BigInt(i * 7919 + 13) * 1000003n - 77n);
const pick = (rand) => UNIVERSE[Math.floor(rand() * rand() * UNIVERSE.length)];

/** Rank r's batch of step k: B samples, 0..3 ids per bag for each feature of `features`. */
function localBatch(features, r, k, B, width, seed) {
  const rand = rng(seed * 1000003 + r * 7919 + k * 104729);
  const bags = features.map(() => []);
  features.forEach((f, i) => {
    for (let b = 0; b < B; b++) {
      const len = Math.floor(rand() * 4);
      bags[i].push(Array.from({ length: len }, () => (f.plain ? BigInt(Math.floor(rand() * f.rows)) : pick(rand))));
    }
  });
  const grad = Float32Array.from({ length: B * width }, () => rand() * 2 - 1);
  return { bags, B, grad };
}

/** Key-major KJT over several ranks' batches (rank order inside each key). */
function toKjt(features, parts) {
  const lengths = [];
  const values = [];
  features.forEach((_, i) => {
    for (const p of parts) {
      for (const bag of p.bags[i]) {
        lengths.push(bag.length);
        values.push(...bag);
      }
    }
  });
  return KeyedJaggedTensor.fromLengths({
    keys: features.map((f) => f.name),
    values: BigInt64Array.from(values),
    lengths: Int32Array.from(lengths),
    stride: parts.reduce((s, p) => s + p.B, 0),
  });
}

function maxDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function globalGrad(parts, W) {
  return Float32Array.from(parts.flatMap((p) => Array.from(p.grad, (x) => Math.fround(x / W))));
}

// The row_wise routing, written again from its contract: splitmix64's finaliser of the id, mod shards.
function shardOf(id, shards) {
  const mask = (1n << 64n) - 1n;
  let x = BigInt.asUintN(64, id);
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & mask;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & mask;
  x ^= x >> 31n;
  return Number(x % BigInt(shards));
}

const managed = (policy, interval) => ({ eviction_policy: policy, eviction_interval: interval, decay_exponent: 1 });

const scenarios = {
  // table_wise managed tables (one on each rank, one beside a plain table) against one process on the
  // global batch: forwards, weights, optimizer state and stats identical, through eviction passes.
  async tableWise(pg) {
    const W = pg.worldSize;
    const optimizer = { rowwise_adagrad: { lr: 0.3 } };
    const tables = [
      { name: 'm', num_embeddings: 12, embedding_dim: 4, feature_names: ['f'], managed_collision: managed('lfu', 2) },
      { name: 'n', num_embeddings: 9, embedding_dim: 3, feature_names: ['h'], managed_collision: managed('lru', 3) },
      { name: 'p', num_embeddings: 10, embedding_dim: 2, feature_names: ['g'] },
    ].map((t) => ({ ...t, optimizer }));
    const features = [{ name: 'f' }, { name: 'h' }, { name: 'g', plain: true, rows: 10 }];
    const width = 9;
    const options = { tables, seed: 5 };
    const plan = { m: { sharding_type: 'table_wise', ranks: [1] }, n: { sharding_type: 'table_wise', ranks: [0] } };
    const sharded = new EmbeddingBagCollection({ ...options, processGroup: pg, plan });
    const ref = new EmbeddingBagCollection(options);
    const out = { forward: 0, weights: 0, state: 0, stats: [], refStats: [], evicted: 0 };
    for (let k = 0; k < args.steps; k++) {
      const sizes = Array.from({ length: W }, (_, s) => [3, 0, 5, 2][(s + k) % 4]);
      const parts = sizes.map((B, s) => localBatch(features, s, k, B, width, 21));
      const before = sizes.slice(0, pg.rank).reduce((a, b) => a + b, 0);
      const got = await sharded.forward(toKjt(features, [parts[pg.rank]]));
      const want = await ref.forward(toKjt(features, parts));
      const slice = want.values().slice(before * width, (before + sizes[pg.rank]) * width);
      out.forward = Math.max(out.forward, maxDiff(got.values(), slice));
      await sharded.backward(toKjt(features, [parts[pg.rank]]), parts[pg.rank].grad);
      await ref.backward(toKjt(features, parts), globalGrad(parts, W));
      out.stats.push(await sharded.managedIdStats());
      out.refStats.push(ref.managedIdStats());
    }
    for (const t of tables) {
      out.weights = Math.max(out.weights, maxDiff(await sharded.getWeights(t.name), ref.getWeights(t.name)));
      const s = await sharded.optimizerState(t.name);
      for (const [name, v] of Object.entries(ref.optimizerState(t.name))) {
        out.state = Math.max(out.state, maxDiff(s[name], v));
      }
    }
    // EVALUATE: nothing admitted or counted, the same rows read.
    sharded.setMode(Mode.EVALUATE);
    ref.setMode(Mode.EVALUATE);
    const parts = [0, 1].map((s) => localBatch(features, s, 99, 4, width, 21));
    const got = await sharded.forward(toKjt(features, [parts[pg.rank]]));
    const want = await ref.forward(toKjt(features, parts));
    out.evaluate = maxDiff(got.values(), want.values().slice(pg.rank * 4 * width, (pg.rank + 1) * 4 * width));
    out.evalStats = [await sharded.managedIdStats(), ref.managedIdStats()];
    return out;
  },

  // A row_wise managed table over ranks [1, 0] (shard 0 on rank 1): each shard is its own map over its
  // rows, ids routed by shardOf. Checked against one reference model per shard fed the global batch's
  // ids of that shard in order: forwards (from the weights read before each), stats, the rows each
  // resident id reads, and the rows an eviction pass hands over re-initialised to their initial values.
  async rowWise(pg) {
    const W = pg.worldSize;
    const N = 16;
    const S = 2;
    const block = N / S;
    const dim = 4;
    const policy = args.policy;
    const tables = [
      {
        name: 'm',
        num_embeddings: N,
        embedding_dim: dim,
        feature_names: ['f'],
        managed_collision: managed(policy, 2),
        optimizer: { sgd: { lr: 0.5 } },
      },
    ];
    const features = [{ name: 'f' }];
    const plan = { m: { sharding_type: 'row_wise', ranks: [1, 0] } };
    const sharded = new EmbeddingBagCollection({ tables, seed: 9, processGroup: pg, plan });
    const refs = Array.from({ length: S }, () => new ManagedIdsRef(block, policy, 2));
    const initial = await sharded.getWeights('m');
    const out = { forward: 0, reinitialised: 0, reinitDiff: 0, stats: [], refStats: [], rows: 0, rowMismatch: 0 };
    for (let k = 0; k < args.steps; k++) {
      const sizes = Array.from({ length: W }, (_, s) => [4, 1, 0, 3][(s + k) % 4]);
      const parts = sizes.map((B, s) => localBatch(features, s, k, B, dim, 33));
      const weights = await sharded.getWeights('m');
      // The reference admits the global batch's ids in order; rows are read after the whole batch's admissions.
      const globalBags = parts.flatMap((p) => p.bags[0]);
      for (const bag of globalBags) for (const id of bag) refs[shardOf(id, S)].admit(id, k);
      const want = globalBags.map((bag) => {
        const sums = Array.from({ length: S }, () => new Float32Array(dim));
        for (const id of bag) {
          const s = shardOf(id, S);
          const row = s * block + refs[s].find(id);
          for (let c = 0; c < dim; c++) sums[s][c] = Math.fround(sums[s][c] + weights[row * dim + c]);
        }
        return Array.from({ length: dim }, (_, c) => sums.reduce((a, x) => a + x[c], 0));
      });
      const before = sizes.slice(0, pg.rank).reduce((a, b) => a + b, 0);
      const got = await sharded.forward(toKjt(features, [parts[pg.rank]]));
      const mine = Float32Array.from(want.slice(before, before + sizes[pg.rank]).flat());
      out.forward = Math.max(out.forward, maxDiff(got.values(), mine));
      await sharded.backward(toKjt(features, [parts[pg.rank]]), parts[pg.rank].grad);
      const after = await sharded.getWeights('m');
      refs.forEach((ref, s) => {
        for (const r of ref.afterStep(k + 1)) {
          const row = s * block + r;
          out.reinitialised++;
          const a = after.subarray(row * dim, (row + 1) * dim);
          out.reinitDiff = Math.max(out.reinitDiff, maxDiff(a, initial.subarray(row * dim, (row + 1) * dim)));
        }
      });
      out.stats.push(await sharded.managedIdStats());
      const sum = (f) => refs.reduce((a, r) => a + r.stats()[f], 0);
      const names = ['residents', 'waiting', 'admitted', 'evicted', 'defaultRowHits', 'waitingDropped'];
      out.refStats.push({ m: Object.fromEntries(names.map((f) => [f, sum(f)])) });
    }
    // The row each resident reads: one id per bag in EVALUATE, matched against the table's rows.
    sharded.setMode(Mode.EVALUATE);
    const weights = await sharded.getWeights('m');
    const residents = refs.flatMap((ref, s) => [...ref.residents()].map(([id, r]) => [id, s * block + r]));
    const probe = { bags: [residents.map(([id]) => [id])], B: residents.length };
    const got = (await sharded.forward(toKjt(features, [probe]))).values();
    residents.forEach(([, row], b) => {
      out.rows++;
      const g = got.subarray(b * dim, (b + 1) * dim);
      if (maxDiff(g, weights.subarray(row * dim, (row + 1) * dim)) !== 0) out.rowMismatch++;
    });
    return out;
  },

  // The backward of a TRAIN forward's batch reuses the ids the forward sent (fewer collectives); a
  // backward of another batch (here on rank 1 only: every rank must then send again) still trains
  // exactly as one process on the backward's global batch.
  async backwardBatch(pg) {
    const W = pg.worldSize;
    const optimizer = { sgd: { lr: 0.5 } };
    const tables = [
      { name: 'm', num_embeddings: 12, embedding_dim: 4, feature_names: ['f'], managed_collision: managed('lfu', 1) },
      { name: 'p', num_embeddings: 10, embedding_dim: 2, feature_names: ['g'] },
    ].map((t) => ({ ...t, optimizer }));
    const features = [{ name: 'f' }, { name: 'g', plain: true, rows: 10 }];
    const width = 6;
    const plan = { m: { sharding_type: 'table_wise', ranks: [1] }, p: 'row_wise' };
    const sharded = new EmbeddingBagCollection({ tables, seed: 8, processGroup: pg, plan });
    const ref = new EmbeddingBagCollection({ tables, seed: 8 });
    const batchOf = (k) => Array.from({ length: W }, (_, s) => localBatch(features, s, k, 3, width, 51));
    const collectives = async (body) => {
      const before = pg.traffic().collectives;
      await body();
      return pg.traffic().collectives - before;
    };
    const out = { collectives: {} };
    for (const [k, name, backK] of [
      [0, 'sameBatch', [0, 0]],
      [1, 'otherBatchOnRank1', [1, 7]],
      [2, 'sameBatchAgain', [2, 2]],
    ]) {
      const forward = batchOf(k);
      const backward = backK.map((b, s) => batchOf(b)[s]);
      await sharded.forward(toKjt(features, [forward[pg.rank]]));
      await ref.forward(toKjt(features, forward));
      out.collectives[name] = await collectives(() =>
        sharded.backward(toKjt(features, [backward[pg.rank]]), backward[pg.rank].grad),
      );
      await ref.backward(toKjt(features, backward), globalGrad(backward, W));
    }
    out.weights = 0;
    for (const t of tables) {
      out.weights = Math.max(out.weights, maxDiff(await sharded.getWeights(t.name), ref.getWeights(t.name)));
    }
    out.stats = [await sharded.managedIdStats(), ref.managedIdStats()];
    return out;
  },

  // Checkpoints of a table_wise ('m', on rank 1) and a row_wise ('r') managed table: a sharded
  // snapshot and per-rank state dicts restore the maps exactly (the next steps repeat bit for bit);
  // the snapshot restores into one process, whose table_wise table then goes on exactly as the
  // sharded one; one process's snapshot restores into a table_wise plan, and is refused, with no
  // rank changed, by a row_wise one (its rows are not where the ids hash).
  async checkpoint(pg) {
    const W = pg.worldSize;
    const sgd = { sgd: { lr: 0.5 } };
    const tables = [
      { name: 'm', num_embeddings: 10, embedding_dim: 4, feature_names: ['f'], managed_collision: managed('lfu', 2) },
      { name: 'r', num_embeddings: 16, embedding_dim: 2, feature_names: ['h'], managed_collision: managed('lru', 2) },
    ].map((t) => ({ ...t, optimizer: sgd }));
    const features = [{ name: 'f' }, { name: 'h' }];
    const width = 6;
    const plan = { m: { sharding_type: 'table_wise', ranks: [1] }, r: 'row_wise' };
    const batches = (k) =>
      Array.from({ length: W }, (_, s) => localBatch(features, s, k, 2 + ((s + k) % 3), width, 41));
    const mine = (k) => toKjt(features, [batches(k)[pg.rank]]);
    const before = (k) =>
      batches(k)
        .slice(0, pg.rank)
        .reduce((a, p) => a + p.B, 0);
    const steps = async (ebc, from, to) => {
      const outs = [];
      for (let k = from; k < to; k++) {
        outs.push(Array.from((await ebc.forward(mine(k))).values()));
        await ebc.backward(mine(k), batches(k)[pg.rank].grad);
        outs.push(await ebc.managedIdStats());
      }
      return outs;
    };
    const globalSteps = async (ebc, from, to) => {
      const outs = [];
      for (let k = from; k < to; k++) {
        const parts = batches(k);
        const all = (await ebc.forward(toKjt(features, parts))).values();
        const B = parts[pg.rank].B;
        // Only table m's columns (0..3) of this rank's samples: r is sharded differently in one process.
        outs.push(
          Array.from({ length: B }, (_, b) =>
            Array.from(all.subarray((before(k) + b) * width, (before(k) + b) * width + 4)),
          ),
        );
        await ebc.backward(toKjt(features, parts), globalGrad(parts, W));
      }
      outs.push(ebc.managedIdStats().m);
      return outs;
    };
    const mColumns = (outs) =>
      outs
        .filter((_, i) => i % 2 === 0)
        .map((v) => Array.from({ length: v.length / width }, (_, b) => v.slice(b * width, b * width + 4)));
    const out = {};
    const snap = `${args.dir}/sharded`;
    const s1 = new EmbeddingBagCollection({ tables, seed: 3, processGroup: pg, plan });
    await steps(s1, 0, 3);
    await s1.saveSnapshot(snap);
    await s1.saveStateDict(`${args.dir}/state_${pg.rank}.pt`);
    const runA = await steps(s1, 3, 6);
    await s1.restoreSnapshot(snap);
    out.snapshotRepeats = JSON.stringify(await steps(s1, 3, 6)) === JSON.stringify(runA);
    const s2 = new EmbeddingBagCollection({ tables, seed: 3, processGroup: pg, plan });
    await s2.loadStateDict(`${args.dir}/state_${pg.rank}.pt`);
    s2.setStep(3);
    out.stateDictRepeats = JSON.stringify(await steps(s2, 3, 6)) === JSON.stringify(runA);
    out.runALength = runA.length;

    // The sharded snapshot in one process: table m goes on exactly as on the ranks.
    const one = new EmbeddingBagCollection({ tables, seed: 3 });
    await one.restoreSnapshot(snap);
    const g = await globalSteps(one, 3, 6);
    out.unshardedMatches =
      JSON.stringify(g.slice(0, 3)) === JSON.stringify(mColumns(runA)) &&
      JSON.stringify(g[3]) === JSON.stringify(runA[runA.length - 1].m);

    // One process's snapshot (rank 0 writes it) into sharded plans.
    const oneSnap = `${args.dir}/one`;
    if (pg.rank === 0) {
      const u = new EmbeddingBagCollection({ tables, seed: 3 });
      for (let k = 0; k < 3; k++) {
        const parts = batches(k);
        await u.forward(toKjt(features, parts));
        await u.backward(toKjt(features, parts), globalGrad(parts, W));
      }
      await u.saveSnapshot(oneSnap);
      out.oneStats = u.managedIdStats();
    }
    await pg.barrier();
    const tw = new EmbeddingBagCollection({
      tables,
      seed: 3,
      processGroup: pg,
      plan: { m: 'table_wise', r: { sharding_type: 'table_wise', ranks: [0] } },
    });
    await tw.restoreSnapshot(oneSnap);
    out.twStats = await tw.managedIdStats();
    const rw = new EmbeddingBagCollection({ tables, seed: 3, processGroup: pg, plan });
    const fresh = await rw.managedIdStats();
    try {
      await rw.restoreSnapshot(oneSnap);
      out.rowWiseRefused = null;
    } catch (e) {
      out.rowWiseRefused = errorOf(e);
    }
    out.rowWiseUnchanged = JSON.stringify(await rw.managedIdStats()) === JSON.stringify(fresh);

    // A hostile copy of the sharded snapshot: table m's second resident takes the first one's row.
    const bad = `${args.dir}/bad`;
    if (pg.rank === 0) {
      fs.cpSync(snap, bad, { recursive: true });
      const file = `${bad}/replicated/model/embedding_bags.m.managed_residents`;
      const residents = new BigInt64Array(new Uint8Array(fs.readFileSync(file)).buffer);
      residents[5] = residents[1]; // [id, row, count, last] rows
      fs.writeFileSync(file, residents);
    }
    await pg.barrier();
    const statsBefore = JSON.stringify(await s1.managedIdStats());
    try {
      await s1.restoreSnapshot(bad);
      out.hostileRefused = null;
    } catch (e) {
      out.hostileRefused = errorOf(e);
    }
    out.hostileUnchanged = JSON.stringify(await s1.managedIdStats()) === statsBefore;
    return out;
  },
};

runScenario(scenarios);
