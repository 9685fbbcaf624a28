/**
 * A rank that dies (kill -9) or stops answering (SIGSTOP) makes the others' pending and later calls
 * reject with ERR_DISTRIBUTED naming the operation and the rank, within timeoutMs plus a few seconds
 * (bounds checked generously, for hangs), and the survivors can still exit. Init with a missing peer
 * fails the same way.
 */
import { freePort, lastJson, startRank, startRanks } from './helpers';

const SLACK_MS = 6000; // generous: child start-up and a loaded 2-core machine

interface Timed {
  ok: boolean;
  error?: { code: string; message: string };
  ms: number;
}
interface LoseRank {
  first: Timed;
  later: Timed;
  laterA2a: Timed;
  failure: string | null;
}

function checkSurvivor(got: LoseRank, rank: number, timeoutMs: number, victim = 1): void {
  expect(got.first.ok).toBe(false);
  expect(got.first.error?.code).toBe('ERR_DISTRIBUTED');
  expect(got.first.error?.message).toMatch(new RegExp(`^allreduce failed on rank ${rank}: .*peer rank ${victim}\\b`));
  expect(got.first.ms).toBeLessThan(timeoutMs + SLACK_MS);
  // Every later call fails at once, naming itself and the first failure.
  for (const [later, op] of [
    [got.later, 'barrier'],
    [got.laterA2a, 'alltoall'],
  ] as const) {
    expect(later.ok).toBe(false);
    expect(later.error?.code).toBe('ERR_DISTRIBUTED');
    expect(later.error?.message).toContain(
      `${op}: the process group is unusable after an earlier failure (allreduce failed`,
    );
    expect(later.ms).toBeLessThan(2000);
  }
  expect(got.failure).toBe(got.first.error?.message);
}

describe('a rank that fails', () => {
  // Rank 0 also serves the store, which then goes with it.
  test.each([1, 0])(
    'kill -9 of rank %d of 3: the others reject naming the op and that rank, then exit',
    async (victim) => {
      const timeoutMs = 4000;
      const ranks = await startRanks('kill', 3, { timeoutMs }, { VICTIM: String(victim) });
      const results = await Promise.all(ranks.map((r) => r.done));
      expect(results[victim].signal).toBe('SIGKILL');
      results.forEach((r, rank) => {
        if (rank === victim) return;
        expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
        checkSurvivor(lastJson<LoseRank>(r), rank, timeoutMs, victim);
      });
    },
  );

  test('SIGSTOP of rank 1 of 2: rank 0 rejects once timeoutMs has passed, then exits', async () => {
    const timeoutMs = 2000;
    const [rank0, rank1] = await startRanks('stop', 2, { timeoutMs });
    try {
      const r0 = await rank0.done;
      expect(r0.code).toBe(0);
      const got = lastJson<LoseRank>(r0);
      checkSurvivor(got, 0, timeoutMs);
      // A stopped peer is noticed only by the timeout (a dead one at once).
      expect(got.first.ms).toBeGreaterThanOrEqual(timeoutMs * 0.9);
    } finally {
      rank1.child.kill('SIGKILL');
      await rank1.done;
    }
  });

  test('init with a missing peer: the store host and a client both reject within timeoutMs', async () => {
    const timeoutMs = 2000;
    const [hostPort, clientPort] = [await freePort(), await freePort()];
    const env = (rank: number, port: number) => ({
      RANK: String(rank),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    });
    const alone = [
      startRank('init', env(0, hostPort), { timeoutMs }),
      startRank('init', env(1, clientPort), { timeoutMs }),
    ];
    const results = await Promise.all(alone.map((r) => r.done));
    results.forEach((r, rank) => {
      expect(r.code).toBe(0);
      const { init } = lastJson<{ init: Timed }>(r);
      expect(init.ok).toBe(false);
      expect(init.error?.code).toBe('ERR_DISTRIBUTED');
      expect(init.error?.message).toContain(`init (rank ${rank} of 2, store at 127.0.0.1:`);
      expect(init.error?.message).toContain(`timeoutMs=${timeoutMs}`);
      expect(init.ms).toBeLessThan(timeoutMs + SLACK_MS);
    });
  });
});
