/**
 * Child of malloc_tuning.test.ts (run with --expose-gc): rounds of forwardSync calls whose results are
 * 8 MiB each (one table, D=512, B=4096), three results held per round and then collected together, and
 * the page faults of the rounds after a warm-up. Collecting by hand makes the pattern the same however
 * loaded the machine is: three freed results at once are more than glibc's default trim threshold
 * (twice one result) and less than the tuned one. Prints one JSON line:
 * { mallocTuning, rounds, resultsPerRound, pagesPerResult, faults }.
 */
'use strict';
const { EmbeddingBagCollection, KeyedJaggedTensor, buildInfo } = require('../../../lib');

const rounds = Number(process.argv[2] || 20);
const perRound = 3;
const D = 512;
const B = 4096;
const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 64, embedding_dim: D }], seed: 1 });
const values = new Int32Array(B);
for (let i = 0; i < B; i++) values[i] = (i * 7) % 64;
const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values, lengths: new Int32Array(B).fill(1) });

function round() {
  const held = [];
  for (let i = 0; i < perRound; i++) held.push(ebc.forwardSync(kjt));
  if (held.some((r) => r.values().length !== B * D)) throw new Error('wrong result size');
  held.length = 0;
  globalThis.gc();
}

for (let r = 0; r < 5; r++) round();
const before = process.resourceUsage().minorPageFault;
for (let r = 0; r < rounds; r++) round();
const faults = process.resourceUsage().minorPageFault - before;
process.stdout.write(
  JSON.stringify({
    mallocTuning: buildInfo().mallocTuning,
    rounds,
    resultsPerRound: perRound,
    pagesPerResult: (B * D * 4) / 4096,
    faults,
  }) + '\n',
);
