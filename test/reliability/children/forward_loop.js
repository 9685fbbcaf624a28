/**
 * Child of memory.test.ts (run with --expose-gc and test/helpers/ts_register.js): many forwards with
 * outputs of meaningful size, some of them failing, and the resident memory before and after.
 * Prints one JSON line: { base, afterSync, afterAsync, calls, errors, outputBytes } (RSS in bytes).
 */
'use strict';
const { setImmediate } = require('timers');
const { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } = require('../../../lib');

const total = Number(process.argv[2] || 20000);
const warmup = Number(process.argv[3] || 4000);
const T = 4;
const D = 64;
const B = 64;
const L = 4;
const tables = Array.from({ length: T }, (_, t) => ({ name: `t${t}`, num_embeddings: 1000, embedding_dim: D }));
const ebc = new EmbeddingBagCollection({ tables, seed: 1 });
const keys = tables.map((t) => t.name);
const values = new Int32Array(T * B * L);
for (let i = 0; i < values.length; i++) values[i] = (i * 7919) % 1000;
const good = KeyedJaggedTensor.fromLengths({ keys, values, lengths: new Int32Array(T * B).fill(L) });
const badValues = Int32Array.from(values);
badValues[17] = 5000;
const bad = KeyedJaggedTensor.fromLengths({ keys, values: badValues, lengths: new Int32Array(T * B).fill(L) });
const outputFloats = B * T * D;

let errors = 0;

function check(kt) {
  if (kt.values().length !== outputFloats) throw new Error(`output has ${kt.values().length} floats`);
}

/** n forwardSync calls without ever yielding to the event loop. */
function runSync(n) {
  for (let i = 0; i < n; i++) check(ebc.forwardSync(good));
}

/** n forward calls, 8 in flight at a time; one call in 10 fails (ERR_INDEX_OUT_OF_RANGE). */
async function runAsync(n) {
  for (let done = 0; done < n; done += 10) {
    const group = [];
    for (let i = 0; i < 9; i++) group.push(ebc.forward(good));
    group.push(
      ebc.forward(bad).then(
        () => {
          throw new Error('an out-of-range id was accepted');
        },
        (e) => {
          if (!(e instanceof TorchrecError) || e.code !== 'ERR_INDEX_OUT_OF_RANGE') throw e;
          errors++;
          return null;
        },
      ),
    );
    for (const kt of await Promise.all(group)) if (kt) check(kt);
  }
}

/** Garbage-collects without turning the event loop (what a synchronous caller sees). */
function rss() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage().rss;
}

(async () => {
  runSync(warmup / 2);
  await runAsync(warmup / 2);
  await new Promise((resolve) => setImmediate(resolve));
  errors = 0;
  const base = rss();
  runSync(total / 2);
  const afterSync = rss();
  await runAsync(total / 2);
  const afterAsync = rss();
  console.log(JSON.stringify({ base, afterSync, afterAsync, calls: total, errors, outputBytes: outputFloats * 4 }));
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
