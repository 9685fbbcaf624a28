/**
 * One rank of test/distributed/traffic.test.ts, from torchrun's variables: makes collectives of known
 * sizes and prints the traffic counter's change across each as one JSON line.
 */
'use strict';
require('../../helpers/ts_register.js');
const { ProcessGroup } = require('../../../lib/distributed/process_group.ts');
const c = require('../../../lib/distributed/collectives.ts');

async function main() {
  const pg = await ProcessGroup.init({ timeoutMs: 15000 });
  const r = pg.rank;
  const W = pg.worldSize;
  const deltas = {};
  const measure = async (name, body) => {
    const before = pg.traffic();
    await body();
    const after = pg.traffic();
    deltas[name] = {
      sent: after.bytesSent - before.bytesSent,
      received: after.bytesReceived - before.bytesReceived,
      collectives: after.collectives - before.collectives,
    };
  };
  // Rank r sends r + d + 1 float32 rows of 3 elements to rank d (its own share included).
  const splits = Array.from({ length: W }, (_, d) => r + d + 1);
  const rows = splits.reduce((a, b) => a + b, 0);
  await measure('alltoall', () => c.alltoall(pg, new Float32Array(rows * 3), splits, { rowElems: 3 }));
  await measure('allreduce', () => pg.allreduce(new Float32Array(1000)));
  await measure('allgather', () => c.allgather(pg, new Float64Array(10)));
  process.stdout.write(`${JSON.stringify({ rank: r, deltas, total: pg.traffic() })}\n`);
  pg.destroy();
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
  process.exit(1);
});
