/**
 * ProcessGroup over real processes on 127.0.0.1: init from torchrun's variables and from options,
 * every collective's values (uneven and empty splits, variable lengths, int64/fp16 bits), and the
 * event loop turning while a rank waits for a slow peer. In-process: a one-rank group and the
 * option checks.
 */
import { ProcessGroup } from '../../lib';
import * as c from '../../lib/distributed/collectives';
import { spawn } from 'child_process';
import { PYTHON, describePython } from '../checkpoint/helpers';
import { expectRejects } from '../helpers/errors';
import { freePort, lastJson, startRank, startRanks } from './helpers';

const TIMEOUT_MS = 10000;

interface CollectiveResults {
  sumF32: number[];
  sumI64: string[];
  sumF64: number[];
  gathered: number[][];
  alltoall: { data: number[]; splits: number[] };
  alltoallIds: string[];
  alltoallHalf: number[];
  allgatherv: string[][];
  allgathervRows: number[][];
  broadcast: number[];
  halfSum: number[];
}

/** What pg_child.js's `collectives` scenario must give on rank r of W (its inputs depend on r only). */
function expected(r: number, W: number): CollectiveResults {
  const ranks = Array.from({ length: W }, (_, s) => s);
  const splitsOf = (s: number) => ranks.map((d) => (s + d) % 3);
  const rowsTo = (s: number, d: number) => {
    const first = splitsOf(s)
      .slice(0, d)
      .reduce((a, b) => a + b, 0);
    return Array.from({ length: splitsOf(s)[d] }, (_, j) => first + j);
  };
  return {
    sumF32: [ranks.reduce((a, s) => a + s + 0.5, 0), -ranks.reduce((a, s) => a + s, 0), W],
    sumI64: [String(ranks.reduce((a, s) => a + BigInt(s) * 10000000000n, 0n)), String(W)],
    sumF64: [ranks.reduce((a, s) => a + s / 3, 0)],
    gathered: ranks.map((s) => [s, s * s]),
    alltoall: {
      data: ranks.flatMap((s) => rowsTo(s, r).flatMap((row) => [s * 1000 + 2 * row, s * 1000 + 2 * row + 1])),
      splits: ranks.map((s) => splitsOf(s)[r]),
    },
    alltoallIds: ranks.flatMap((s) => rowsTo(s, r).map((row) => String(BigInt(s) * 2n ** 40n + BigInt(row)))),
    alltoallHalf: ranks.map((s) => 0x3c00 + s * 16 + r),
    allgatherv: ranks.map((s) => Array.from({ length: s }, (_, i) => String(s * 100 + i))),
    allgathervRows: ranks.map((s) => Array.from({ length: 3 * (W - 1 - s) }, (_, i) => s + i / 8)),
    broadcast: [W - 1, 2 * (W - 1), 7],
    halfSum: [W === 2 ? 0x4000 : 0x4200], // 2.0 and 3.0 in fp16
  };
}

function checkCollectives(results: CollectiveResults[], W: number): void {
  results.forEach((got, r) => {
    const want = expected(r, W);
    expect(got.sumF64[0]).toBeCloseTo(want.sumF64[0], 12);
    expect({ ...got, sumF64: undefined }).toEqual({ ...want, sumF64: undefined });
  });
}

describe('ProcessGroup across processes', () => {
  test('3 ranks from torchrun variables: allreduce, allgather, alltoall (uneven, empty), allgatherv, broadcast', async () => {
    const ranks = await startRanks('collectives', 3, { timeoutMs: TIMEOUT_MS });
    const results = await Promise.all(ranks.map((r) => r.done));
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    checkCollectives(
      results.map((r) => lastJson<CollectiveResults>(r)),
      3,
    );
  });

  test('2 ranks from explicit options alone (no torchrun variables)', async () => {
    const port = await freePort();
    const ranks = [0, 1].map((rank) =>
      startRank(
        'collectives',
        {},
        { rank, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: TIMEOUT_MS },
      ),
    );
    const results = await Promise.all(ranks.map((r) => r.done));
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    checkCollectives(
      results.map((r) => lastJson<CollectiveResults>(r)),
      2,
    );
  });

  test('rank, worldSize, localRank, localWorldSize and backend come from the environment', async () => {
    const port = String(await freePort());
    // Two "nodes" of 2 and... one machine, but LOCAL_* as torchrun sets them for 2 nodes of 2 ranks.
    const ranks = [0, 1, 2, 3].map((rank) =>
      startRank(
        'info',
        {
          RANK: String(rank),
          WORLD_SIZE: '4',
          LOCAL_RANK: String(rank % 2),
          LOCAL_WORLD_SIZE: '2',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: port,
        },
        { timeoutMs: TIMEOUT_MS },
      ),
    );
    const results = await Promise.all(ranks.map((r) => r.done));
    expect(results.map((r) => lastJson(r))).toEqual(
      [0, 1, 2, 3].map((rank) => ({ rank, worldSize: 4, localRank: rank % 2, localWorldSize: 2, backend: 'gloo' })),
    );
  });

  test('the event loop keeps turning while a rank waits for a slow peer', async () => {
    const ranks = await startRanks('slow_peer', 2, { timeoutMs: TIMEOUT_MS });
    const [r0, r1] = await Promise.all(ranks.map((r) => r.done));
    expect(r1.code).toBe(0);
    const got = lastJson<{ ticks: number; waited: { ok: boolean; ms: number } }>(r0);
    expect(got.waited.ok).toBe(true);
    // Rank 1 arrives ~1.5 s late; a blocked JS thread would have let the 10 ms timer fire at most once.
    expect(got.ticks).toBeGreaterThan(20);
  });
});

// What torchrun's agent does: serve the store itself, the workers all being clients under
// "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>". Were rank 0 to serve as well, it would find the
// port taken and fail, so success shows the agent path was used.
describePython("torchrun's agent store", () => {
  test('with TORCHELASTIC_USE_AGENT_STORE=True every rank is a client of the agent (Python) store', async () => {
    const port = await freePort();
    const agent = spawn(PYTHON, [
      '-c',
      'import datetime, sys, time, torch.distributed as d\n' +
        `s = d.TCPStore("127.0.0.1", ${port}, 3, True, datetime.timedelta(seconds=30), wait_for_workers=False)\n` +
        'print("ready", flush=True)\ntime.sleep(60)\n',
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        agent.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        agent.on('exit', (code) => reject(new Error(`the Python store exited early (${code})`)));
      });
      const env = (rank: number) => ({
        RANK: String(rank),
        WORLD_SIZE: '2',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        TORCHELASTIC_USE_AGENT_STORE: 'True',
        TORCHELASTIC_RESTART_COUNT: '3',
      });
      const results = await Promise.all([0, 1].map((r) => startRank('info', env(r), { timeoutMs: TIMEOUT_MS }).done));
      expect(results.map((r) => lastJson<{ rank: number }>(r).rank)).toEqual([0, 1]);
    } finally {
      agent.kill('SIGKILL');
    }
  });
});

describe('ProcessGroup in this process', () => {
  test('a one-rank group needs no environment: collectives are the identity, destroy ends it', async () => {
    const saved = { ...process.env };
    for (const k of ['RANK', 'WORLD_SIZE', 'MASTER_PORT', 'MASTER_ADDR', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'])
      delete process.env[k];
    try {
      const pg = await ProcessGroup.init({ timeoutMs: 5000 });
      expect([pg.rank, pg.worldSize, pg.localRank, pg.localWorldSize, pg.backend]).toEqual([0, 1, 0, 1, 'gloo']);
      await pg.barrier();
      expect(Array.from(await c.allreduce(pg, Float32Array.of(1.5, -2)))).toEqual([1.5, -2]);
      const a2a = await c.alltoall(pg, Int32Array.of(4, 5, 6), [3]);
      expect({ data: Array.from(a2a.data), splits: a2a.splits }).toEqual({ data: [4, 5, 6], splits: [3] });
      expect((await c.allgatherv(pg, new Float32Array(0))).map((a) => a.length)).toEqual([0]);
      // A call queued right before destroy() settles either way (ran, or ERR_DISPOSED); it never hangs.
      const queued = pg.barrier().then(
        () => 'ran',
        (e: { code: string }) => e.code,
      );
      pg.destroy();
      pg.destroy(); // idempotent
      expect(['ran', 'ERR_DISPOSED']).toContain(await queued);
      await expectRejects(pg.barrier(), 'ERR_DISPOSED', 'barrier', 'destroyed');
      await expectRejects(c.allreduce(pg, Float32Array.of(1)), 'ERR_DISPOSED', 'allreduce');
    } finally {
      process.env = saved;
    }
  });

  test('bad collective arguments are ERR_INVALID_ARGUMENT and leave the group usable', async () => {
    const pg = await ProcessGroup.init({ worldSize: 1, rank: 0, masterPort: 0, timeoutMs: 5000 });
    try {
      await expectRejects(
        c.alltoall(pg, Float32Array.of(1, 2), [1]),
        'ERR_INVALID_ARGUMENT',
        'input splits sum to 1',
        '2',
      );
      await expectRejects(c.alltoall(pg, Float32Array.of(1, 2), [1, 1]), 'ERR_INVALID_ARGUMENT', 'one per rank');
      await expectRejects(
        c.alltoall(pg, Float32Array.of(1, 2, 3), [1], { rowElems: 2 }),
        'ERR_INVALID_ARGUMENT',
        'row size 2',
      );
      await expectRejects(c.broadcast(pg, Float32Array.of(1), 1), 'ERR_INVALID_ARGUMENT', 'root', 'got 1');
      await expectRejects(c.broadcast(pg, Float32Array.of(1), NaN), 'ERR_INVALID_ARGUMENT', 'root', 'got NaN');
      await expectRejects(c.alltoall(pg, Float32Array.of(1), [0.5]), 'ERR_INVALID_ARGUMENT', 'inputSplits[0]', '0.5');
      await expectRejects(c.alltoall(pg, Float32Array.of(1), [-1]), 'ERR_INVALID_ARGUMENT', 'inputSplits[0]');
      await expectRejects(
        c.alltoall(pg, Float32Array.of(1), [1], { outputSplits: [Infinity] }),
        'ERR_INVALID_ARGUMENT',
        'outputSplits[0]',
      );
      await expectRejects(c.allreduce(pg, [1, 2] as unknown as Float32Array), 'ERR_INVALID_ARGUMENT', 'typed array');
      await expectRejects(
        c.allreduce(pg, new Uint32Array(2) as unknown as Float32Array),
        'ERR_INVALID_ARGUMENT',
        'Float32Array',
      );
      expect(c.failure(pg)).toBeNull();
      await pg.barrier();
    } finally {
      pg.destroy();
    }
  });

  test.each([
    [{ wordSize: 2 }, 'wordSize', 'did you mean "worldSize"'],
    [{ rank: 2, worldSize: 2, masterPort: 1234 }, 'rank', 'below worldSize (2)'],
    [{ worldSize: 2 }, 'masterPort', 'MASTER_PORT'],
    [{ worldSize: 2, masterPort: 70000 }, 'masterPort', '65535'],
    [{ timeoutMs: 0 }, 'timeoutMs', 'positive integer'],
    [{ backend: 'mpi' }, 'backend', '"gloo" or "nccl"'],
    [{ localRank: 3, localWorldSize: 2, worldSize: 4, masterPort: 1 }, 'localRank', 'below localWorldSize'],
  ])('init(%j) is ERR_INVALID_CONFIG naming %s', async (options, field, text) => {
    await expectRejects(ProcessGroup.init(options as never), 'ERR_INVALID_CONFIG', field, text);
  });

  test('a malformed torchrun variable is ERR_INVALID_CONFIG naming it', async () => {
    const saved = process.env.WORLD_SIZE;
    process.env.WORLD_SIZE = 'two';
    try {
      await expectRejects(ProcessGroup.init(), 'ERR_INVALID_CONFIG', 'WORLD_SIZE', '"two"');
    } finally {
      if (saved === undefined) delete process.env.WORLD_SIZE;
      else process.env.WORLD_SIZE = saved;
    }
  });

  test("backend 'nccl' is ERR_DEVICE on a build without CUDA", async () => {
    await expectRejects(ProcessGroup.init({ backend: 'nccl' }), 'ERR_DEVICE', 'nccl', 'CUDA');
  });
});
