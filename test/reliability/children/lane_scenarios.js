/**
 * Child of small_call_lane.test.ts: small async forwards, which take the per-env small-call lane
 * (native/binding/small_call_lane.h), left in flight however the process or a worker ends. The
 * process must end cleanly (exit code 0, no signal, no "terminate called"). argv[2]:
 *   exit-now      process.exit(0) right after starting 300 small forwards;
 *   exit-in-then  process.exit(0) in the continuation of the first of 300, right after starting 300
 *                 more (a batch of 300 may well settle at once, so these are the ones in flight);
 *   return        start 300, dispose() the collection and fall off the end: they all finish;
 *   terminate     five rounds of three workers terminated with 300 small forwards each pending,
 *                 one worker exiting itself; the main thread then still computes correctly;
 *   exit-workers  process.exit(0) from the main thread while workers have small forwards in flight;
 *   lane-off      (run with TORCHREC_SMALL_CALL_LANE=0) whether buildInfo() reports the lane, and
 *                 whether 200 small async forwards, sequential and at once, give forwardSync's bits;
 *   idle-cpu      a burst of small forwards (sequential and concurrent), then the process idles:
 *                 reports the CPU time it spent during 400 ms of idling (the lane must stop
 *                 spinning and the JS thread stop polling once nothing is in flight).
 * Prints one JSON line describing what it saw.
 */
'use strict';
const { Buffer } = require('buffer');
const { KeyedJaggedTensor, buildInfo } = require('../../../lib');
const { patternEbc } = require('../../helpers/reliability.ts');
const kit = require('./scenario_kit');

const scenario = process.argv[2];
const { tables, batch } = kit.oneTableBatch(1000, 16, 16, 4);
const report = kit.reporter(scenario);
const COUNT = 300;

const startWorker = (mode) => kit.startWorker(tables, batch, mode, COUNT);
const { started, exited } = kit;
const sleep = (ms) => new Promise((resolve) => globalThis.setTimeout(resolve, ms));

async function main() {
  if (scenario === 'terminate' || scenario === 'exit-workers') {
    const rounds = scenario === 'terminate' ? 5 : 1;
    let codes = [];
    for (let r = 0; r < rounds; r++) {
      const workers = [startWorker('pending'), startWorker('pending'), startWorker('pending')];
      await Promise.all(workers.map(started));
      if (scenario === 'exit-workers') {
        report({ workers: workers.length });
        process.exit(0);
      }
      const selfExit = startWorker('exit');
      codes = await Promise.all([...workers.map((w) => w.terminate()), exited(selfExit)]);
    }
    const same = await kit.asyncMatchesSync(patternEbc(tables, false), batch);
    report({ codes, same });
    return;
  }
  const ebc = patternEbc(tables, false);
  const kjt = KeyedJaggedTensor.fromLengths(batch);
  if (scenario === 'lane-off') {
    const want = Buffer.from(ebc.forwardSync(kjt).values().buffer);
    const got = [];
    for (let i = 0; i < 100; i++) got.push(await ebc.forward(kjt));
    got.push(...(await Promise.all(Array.from({ length: 100 }, () => ebc.forward(kjt)))));
    report({ lane: buildInfo().smallCallLane, same: got.every((kt) => want.equals(Buffer.from(kt.values().buffer))) });
    return;
  }
  if (scenario === 'idle-cpu') {
    for (let i = 0; i < 3000; i++) await ebc.forward(kjt);
    await Promise.all(Array.from({ length: 500 }, () => ebc.forward(kjt)));
    await sleep(100); // past the lane's spin and the loop's poll windows (well under 1 ms)
    const before = process.cpuUsage();
    await sleep(400);
    const used = process.cpuUsage(before);
    report({ idleCpuMs: (used.user + used.system) / 1000 });
    return;
  }
  let resolved = 0;
  const pending = [];
  for (let i = 0; i < COUNT; i++) pending.push(ebc.forward(kjt).then(() => resolved++));
  if (scenario === 'exit-now') {
    report({ resolved });
    process.exit(0);
  } else if (scenario === 'exit-in-then') {
    pending[0].then(() => {
      for (let i = 0; i < COUNT; i++) ebc.forward(kjt).then(() => resolved++);
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

main();
