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
const { KeyedJaggedTensor } = require('../../../lib');
const { patternEbc } = require('../../helpers/reliability.ts');
const kit = require('./scenario_kit');

const scenario = process.argv[2];
const { tables, batch } = kit.oneTableBatch(50000, 64, 1024, 50);
const report = kit.reporter(scenario);
const { started, exited } = kit;
const startWorker = (mode, count) => kit.startWorker(tables, batch, mode, count);

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
    const same = await kit.asyncMatchesSync(patternEbc(tables, false), batch);
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
