/**
 * A worker_threads body for worker_threads.test.ts and exit_scenarios.js. It loads lib/ itself
 * (through test/helpers/ts_register.js), builds an EmbeddingBagCollection with the deterministic
 * weights of test/helpers/reliability.ts, and then, by workerData.mode:
 *   'compare': runs every batch with forward (all in flight at once) and forwardSync, posts
 *              { async, sync } (arrays of Float32Array), and exits;
 *   'pending': starts workerData.count forwards, posts 'started' and leaves them running;
 *   'exit':    starts forwards, then calls process.exit() in the worker while they run.
 */
'use strict';
require('../../helpers/ts_register.js');
const { parentPort, workerData } = require('worker_threads');
const { KeyedJaggedTensor } = require('../../../lib');
const { patternEbc } = require('../../helpers/reliability.ts');

const { mode, tables, isWeighted, batches } = workerData;
const ebc = patternEbc(tables, isWeighted);
const kjts = batches.map((b) => KeyedJaggedTensor.fromLengths(b));

if (mode === 'compare') {
  Promise.all(kjts.map((k) => ebc.forward(k))).then((results) => {
    const sync = kjts.map((k) => ebc.forwardSync(k).values());
    parentPort.postMessage({ async: results.map((kt) => kt.values()), sync });
    ebc.dispose();
  });
} else {
  const pending = [];
  for (let i = 0; i < workerData.count; i++) pending.push(ebc.forward(kjts[i % kjts.length]));
  if (mode === 'exit') process.exit(3);
  // Stay alive until terminated: on a fast machine the forwards may all finish first, and a worker
  // that had already ended on its own would make terminate() report no exit code.
  globalThis.setInterval(() => undefined, 60_000);
  parentPort.postMessage('started');
}
