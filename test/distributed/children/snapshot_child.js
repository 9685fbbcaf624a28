/**
 * One rank of a sharded-snapshot scenario: `node snapshot_child.js <scenario> <JSON args>`, rank and
 * world from torchrun's variables (no group at all with args.unsharded: a one-process collection).
 *
 *   ops:      runs args.ops in order on one collection (build with args.plan) and reports what each
 *             returned: train (K steps of forward+backward on this rank's seeded batch), save, restore
 *             ({step, walltime} or the error), digest (sha256 of every table's getWeights and optimizer
 *             state bytes, and the step: the bit-for-bit fingerprint the test compares across groups),
 *             saveStateDict, loadStateDict, importShards (the native import of this rank's shards).
 *   killSave: both ranks train and save args.dir once, report that digest, train one more step; then
 *             the victim dies by SIGKILL in the middle of the second save (rank 1: before it joins;
 *             rank 0: once its temporary directory exists) and the survivor reports how its save ended.
 * Prints one JSON line last.
 */
'use strict';
const { args, errorOf, runScenario } = require('./rank_kit.js');
const { Buffer } = require('buffer');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { setTimeout } = require('timers');
const { EmbeddingBagCollection } = require('../../../lib/ebc.ts');
const { KeyedJaggedTensor } = require('../../../lib/kjt.ts');
const { rng } = require('../../helpers/random.ts');

const sha = (a) =>
  crypto
    .createHash('sha256')
    .update(Buffer.from(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function build(pg) {
  return new EmbeddingBagCollection({
    tables: args.tables,
    seed: 5,
    ...(pg ? { processGroup: pg, plan: args.plan } : {}),
  });
}

/** Step k of rank r: 1 + r samples (rank 2: none), 0..3 ids per bag, and a gradient. */
async function train(ebc, pg, steps, salt) {
  const r = pg ? pg.rank : 0;
  const width = args.tables.reduce((s, t) => s + t.embedding_dim, 0);
  for (let k = 0; k < steps; k++) {
    const rand = rng(salt * 7919 + r * 104729 + k);
    const B = r === 2 ? 0 : 1 + r;
    const lengths = [];
    const values = [];
    for (const t of args.tables) {
      for (let b = 0; b < B; b++) {
        const len = Math.floor(rand() * 4);
        lengths.push(len);
        for (let i = 0; i < len; i++) values.push(Math.floor(rand() * t.num_embeddings));
      }
    }
    const kjt = KeyedJaggedTensor.fromLengths({
      keys: args.tables.map((t) => t.name),
      values: BigInt64Array.from(values, BigInt),
      lengths: Int32Array.from(lengths),
      stride: B,
    });
    await ebc.forward(kjt);
    await ebc.backward(
      kjt,
      Float32Array.from({ length: B * width }, () => rand() * 2 - 1),
    );
  }
}

async function digest(ebc) {
  const out = { step: ebc.step, tables: {} };
  for (const t of args.tables) {
    const state = await ebc.optimizerState(t.name);
    out.tables[t.name] = {
      weight: sha(await ebc.getWeights(t.name)),
      ...Object.fromEntries(Object.entries(state).map(([k, v]) => [k, sha(v)])),
    };
  }
  return out;
}

async function settle(p) {
  try {
    return { ok: await p };
  } catch (e) {
    return { error: errorOf(e) };
  }
}

const scenarios = {
  async ops(pg) {
    const ebc = build(pg);
    const results = [];
    for (const op of args.ops) {
      if (op.op === 'train') results.push(await settle(train(ebc, pg, op.steps, op.salt)));
      else if (op.op === 'save') results.push(await settle(ebc.saveSnapshot(op.dir, { walltime: op.walltime ?? 1.5 })));
      else if (op.op === 'restore') results.push(await settle(ebc.restoreSnapshot(op.dir)));
      else if (op.op === 'digest') results.push(await digest(ebc));
      else if (op.op === 'importShards') {
        const shards = op.shards.map((x) => ({
          ...x,
          weight: x.weight && Float32Array.from(x.weight),
          state: x.state && Object.fromEntries(Object.entries(x.state).map(([k, v]) => [k, Float32Array.from(v)])),
        }));
        results.push(await settle(ebc.inCallOrder((m) => m.importShards(shards, undefined, op.apply))));
      } else if (op.op === 'saveStateDict') results.push(await settle(ebc.saveStateDict(op.path)));
      else if (op.op === 'loadStateDict') results.push(await settle(ebc.loadStateDict(op.path)));
    }
    ebc.dispose();
    return { results };
  },

  async killSave(pg) {
    const ebc = build(pg);
    await train(ebc, pg, 2, 1);
    await ebc.saveSnapshot(args.dir, { walltime: 2.5 });
    const saved = await digest(ebc);
    await train(ebc, pg, 1, 2);
    if (pg.rank === args.victim && args.victim !== 0) {
      await sleep(300); // rank 0 is inside its save, waiting for this rank
      process.kill(process.pid, 'SIGKILL');
    }
    if (args.victim === 0 && pg.rank !== 0) await sleep(1500); // rank 0 dies meanwhile
    const saving = settle(ebc.saveSnapshot(args.dir, { walltime: 3.5 }));
    if (pg.rank === args.victim) {
      const parent = path.dirname(args.dir);
      const base = path.basename(args.dir);
      for (;;) {
        if (fs.readdirSync(parent).some((n) => n.startsWith(`${base}.tmp-`))) process.kill(process.pid, 'SIGKILL');
        await sleep(5);
      }
    }
    const t0 = Date.now();
    const result = await saving;
    return { saved, result, ms: Date.now() - t0 };
  },
};

runScenario(scenarios);
