/**
 * Child of malloc_tuning.test.ts: after a warm-up, the page faults of many forwardSync calls whose
 * results are 8 MiB each (one table, D=512, B=4096). Prints one JSON line:
 * { mallocTuning, calls, pagesPerResult, faults }.
 */
'use strict';
const { EmbeddingBagCollection, KeyedJaggedTensor, buildInfo } = require('../../../lib');

const calls = Number(process.argv[2] || 30);
const D = 512;
const B = 4096;
const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 64, embedding_dim: D }], seed: 1 });
const values = new Int32Array(B);
for (let i = 0; i < B; i++) values[i] = (i * 7) % 64;
const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values, lengths: new Int32Array(B).fill(1) });
for (let i = 0; i < 20; i++) ebc.forwardSync(kjt);
const before = process.resourceUsage().minorPageFault;
for (let i = 0; i < calls; i++) {
  if (ebc.forwardSync(kjt).values().length !== B * D) throw new Error('wrong result size');
}
const faults = process.resourceUsage().minorPageFault - before;
process.stdout.write(
  JSON.stringify({ mallocTuning: buildInfo().mallocTuning, calls, pagesPerResult: (B * D * 4) / 4096, faults }) + '\n',
);
