/**
 * What the scenario children (exit_scenarios.js, lane_scenarios.js) share: a one-table batch of fixed
 * ids, ebc_worker.js workers over it and the promises that follow them, and the JSON report line.
 */
'use strict';
const { Buffer } = require('buffer');
const path = require('path');
const { Worker } = require('worker_threads');
const { KeyedJaggedTensor } = require('../../../lib');

/** Table `t` (rows x dim) and a batch of B bags of L ids spread over it. */
function oneTableBatch(rows, dim, B, L) {
  const values = new Int32Array(B * L);
  for (let i = 0; i < values.length; i++) values[i] = (i * 7919) % rows;
  return {
    tables: [{ name: 't', num_embeddings: rows, embedding_dim: dim }],
    batch: { keys: ['t'], values, lengths: new Int32Array(B).fill(L) },
  };
}

function startWorker(tables, batch, mode, count) {
  return new Worker(path.join(__dirname, 'ebc_worker.js'), {
    workerData: { mode, tables, isWeighted: false, batches: [batch], count },
  });
}

const started = (worker) =>
  new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

const exited = (worker) => new Promise((resolve) => worker.once('exit', resolve));

/** Whether an async forward of `batch` gives forwardSync's bits. */
async function asyncMatchesSync(ebc, batch) {
  const kjt = KeyedJaggedTensor.fromLengths(batch);
  return Buffer.from((await ebc.forward(kjt)).values().buffer).equals(
    Buffer.from(ebc.forwardSync(kjt).values().buffer),
  );
}

const reporter = (scenario) => (o) => process.stdout.write(`${JSON.stringify({ scenario, ...o })}\n`);

module.exports = { oneTableBatch, startWorker, started, exited, asyncMatchesSync, reporter };
