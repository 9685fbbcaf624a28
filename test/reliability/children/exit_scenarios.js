/**
 * Child of worker_threads.test.ts: the process must end cleanly (exit code 0, no signal, no
 * "terminate called") however it leaves forwards in flight. argv[2] picks the scenario:
 *   exit-now      process.exit(0) right after starting 100 forwards;
 *   exit-in-then  process.exit(0) when the first of 100 forwards resolves, the rest still running;
 *   return        start 100 forwards, dispose() the collection and fall off the end: they all finish;
 *   terminate     workers with pending forwards are terminated, one worker exits itself; the main
 *                 thread then still computes correctly;
 *   exit-workers  process.exit(0) from the main thread while workers have forwards in flight.
 * Prints one JSON line describing what it saw.
 */
'use strict';
const { Buffer } = require('buffer');
const path = require('path');
const { Worker } = require('worker_threads');
const { KeyedJaggedTensor } = require('../../../lib');
const { patternEbc } = require('../../helpers/reliability.ts');

const scenario = process.argv[2];
const tables = [{ name: 't', num_embeddings: 50000, embedding_dim: 64 }];
const B = 1024;
const L = 50;
const values = new Int32Array(B * L);
for (let i = 0; i < values.length; i++) values[i] = (i * 7919) % 50000;
const batch = { keys: ['t'], values, lengths: new Int32Array(B).fill(L) };
const report = (o) => process.stdout.write(`${JSON.stringify({ scenario, ...o })}\n`);

function startWorker(mode, count) {
  return new Worker(path.join(__dirname, 'ebc_worker.js'), {
    workerData: { mode, tables, isWeighted: false, batches: [batch], count },
  });
}

function started(worker) {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function exited(worker) {
  return new Promise((resolve) => worker.once('exit', resolve));
}

async function main() {
  if (scenario === 'terminate' || scenario === 'exit-workers') {
    const workers = [startWorker('pending', 200), startWorker('pending', 200), startWorker('pending', 200)];
    await Promise.all(workers.map(started));
    if (scenario === 'exit-workers') {
      report({ workers: workers.length });
      process.exit(0);
    }
    const selfExit = startWorker('exit', 50);
    const codes = await Promise.all([...workers.map((w) => w.terminate()), exited(selfExit)]);
    const ebc = patternEbc(tables, false);
    const kjt = KeyedJaggedTensor.fromLengths(batch);
    const same = Buffer.from((await ebc.forward(kjt)).values().buffer).equals(
      Buffer.from(ebc.forwardSync(kjt).values().buffer),
    );
    report({ codes, same });
    return;
  }
  const ebc = patternEbc(tables, false);
  const kjt = KeyedJaggedTensor.fromLengths(batch);
  let resolved = 0;
  const pending = [];
  for (let i = 0; i < 100; i++) pending.push(ebc.forward(kjt).then(() => resolved++));
  if (scenario === 'exit-now') {
    report({ resolved });
    process.exit(0);
  } else if (scenario === 'exit-in-then') {
    pending[0].then(() => {
      report({ resolved });
      process.exit(0);
    });
  } else if (scenario === 'return') {
    ebc.dispose();
    process.on('exit', () => report({ resolved }));
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
