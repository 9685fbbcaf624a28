/**
 * One rank of a test/distributed scenario: `node pg_child.js <scenario> [init options as JSON]`, its
 * rank and world from torchrun's variables unless the options name them. Prints one JSON line last.
 */
'use strict';
require('../../helpers/ts_register.js');
const { setTimeout, setInterval, clearInterval } = require('timers');
const { ProcessGroup } = require('../../../lib/distributed/process_group.ts');
const c = require('../../../lib/distributed/collectives.ts');

const scenario = process.argv[2];
const initOptions = JSON.parse(process.argv[3] || '{}');
const report = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const errorOf = (e) => ({ code: e.code, message: e.message });

/** Awaits `p`; what it gave or how it failed, and how long it took. */
async function timed(p) {
  const t0 = Date.now();
  try {
    return { ok: true, value: await p, ms: Date.now() - t0 };
  } catch (e) {
    return { ok: false, error: errorOf(e), ms: Date.now() - t0 };
  }
}

const scenarios = {
  async info(pg) {
    await pg.barrier();
    const { rank, worldSize, localRank, localWorldSize, backend } = pg;
    return { rank, worldSize, localRank, localWorldSize, backend };
  },

  // Rank r's inputs are a function of r only, so the test computes every expected value itself.
  async collectives(pg) {
    const r = pg.rank;
    const W = pg.worldSize;
    const out = {};
    out.sumF32 = Array.from(await c.allreduce(pg, Float32Array.of(r + 0.5, -r, 1)));
    out.sumI64 = Array.from(await c.allreduce(pg, BigInt64Array.of(BigInt(r) * 10000000000n, 1n)), String);
    out.sumF64 = Array.from(await c.allreduce(pg, Float64Array.of(r / 3)));
    out.gathered = (await c.allgather(pg, Int32Array.of(r, r * r))).map((a) => Array.from(a));
    // Rank r sends (r + d) % 3 rows of 2 float32 to rank d: uneven, and 0 for some pairs.
    const splits = Array.from({ length: W }, (_, d) => (r + d) % 3);
    const rows = splits.reduce((a, b) => a + b, 0);
    const data = Float32Array.from({ length: rows * 2 }, (_, i) => r * 1000 + i);
    const a2a = await c.alltoall(pg, data, splits, { rowElems: 2 });
    out.alltoall = { data: Array.from(a2a.data), splits: a2a.splits };
    // The same with int64 ids and the output splits given (no count exchange).
    const outSplits = Array.from({ length: W }, (_, s) => (s + r) % 3);
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(r) * 2n ** 40n + BigInt(i));
    const a2aIds = await c.alltoall(pg, ids, splits, { outputSplits: outSplits });
    out.alltoallIds = Array.from(a2aIds.data, String);
    // float16 bits travel untouched.
    const half = await c.alltoall(
      pg,
      Uint16Array.from({ length: W }, (_, d) => 0x3c00 + r * 16 + d),
      new Array(W).fill(1),
    );
    out.alltoallHalf = Array.from(half.data);
    out.allgatherv = (
      await c.allgatherv(
        pg,
        BigInt64Array.from({ length: r }, (_, i) => BigInt(r * 100 + i)),
      )
    ).map((a) => Array.from(a, String));
    out.allgathervRows = (
      await c.allgatherv(
        pg,
        Float32Array.from({ length: 3 * (W - 1 - r) }, (_, i) => r + i / 8),
        3,
      )
    ).map((a) => Array.from(a));
    out.broadcast = Array.from(await c.broadcast(pg, Float64Array.of(r, r * 2, 7), W - 1));
    out.halfSum = Array.from(await c.allreduce(pg, Uint16Array.of(0x3c00))); // 1.0 in fp16 bits, summed
    await pg.barrier();
    return out;
  },

  // Rank 1 is slow to arrive; rank 0 counts its timer ticks while it waits in the barrier.
  async slow_peer(pg) {
    if (pg.rank === 1) {
      await sleep(1500);
      await pg.barrier();
      return {};
    }
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const waited = await timed(pg.barrier());
    clearInterval(timer);
    return { ticks, waited };
  },

  // Rank VICTIM (default 1) dies (kill -9) or stops (SIGSTOP) after a first collective; the others go on.
  async lose_rank(pg, signal) {
    await c.allreduce(pg, Float32Array.of(1));
    if (pg.rank === Number(process.env.VICTIM ?? 1)) {
      process.kill(process.pid, signal);
      await sleep(60000);
    }
    const first = await timed(c.allreduce(pg, Float32Array.of(1)));
    const later = await timed(pg.barrier());
    const laterA2a = await timed(c.alltoall(pg, Float32Array.of(1), [1, ...new Array(pg.worldSize - 1).fill(0)]));
    return { first, later, laterA2a, failure: c.failure(pg) };
  },
};
scenarios.kill = (pg) => scenarios.lose_rank(pg, 'SIGKILL');
scenarios.stop = (pg) => scenarios.lose_rank(pg, 'SIGSTOP');

(async () => {
  const init = await timed(ProcessGroup.init(initOptions));
  if (!init.ok || scenario === 'init') {
    report({ init: { ok: init.ok, error: init.error, ms: init.ms } });
    if (init.ok) init.value.destroy();
    return;
  }
  const pg = init.value;
  const result = await scenarios[scenario](pg);
  pg.destroy();
  report(result);
})().catch((e) => {
  report({ crashed: errorOf(e) });
  process.exitCode = 1;
});
