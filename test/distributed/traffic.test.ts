/**
 * ProcessGroup.traffic(): the bytes a rank exchanged with the others, exact for all-to-alls (its own
 * share excluded; the split-size exchange counted too), the ring model for allreduce and allgather.
 */
import * as path from 'path';
import { cleanEnv, freePort, lastJson, start } from './helpers';

const CHILD = path.join(__dirname, 'children', 'traffic_child.js');

interface Delta {
  sent: number;
  received: number;
  collectives: number;
}

describe('ProcessGroup.traffic', () => {
  it('counts what 3 ranks send to and receive from each other', async () => {
    const W = 3;
    const port = await freePort();
    const ranks = Array.from({ length: W }, (_, r) =>
      start(
        [CHILD],
        cleanEnv({ RANK: String(r), WORLD_SIZE: String(W), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
        60_000,
      ),
    );
    const results = await Promise.all(ranks.map((x) => x.done));
    for (const [r, res] of results.entries()) {
      expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
      const got = lastJson<{ deltas: Record<string, Delta> }>(res).deltas;
      const others = Array.from({ length: W }, (_, d) => d).filter((d) => d !== r);
      // Data: (r + d + 1) rows of 12 bytes to rank d, (s + r + 1) rows from rank s; counts: 8 bytes each way per peer.
      expect(got.alltoall).toEqual({
        sent: others.reduce((a, d) => a + (r + d + 1) * 12 + 8, 0),
        received: others.reduce((a, s) => a + (s + r + 1) * 12 + 8, 0),
        collectives: 2,
      });
      const ring = Math.floor((2 * (W - 1) * 4000) / W);
      expect(got.allreduce).toEqual({ sent: ring, received: ring, collectives: 1 });
      expect(got.allgather).toEqual({ sent: (W - 1) * 80, received: (W - 1) * 80, collectives: 1 });
    }
  }, 90_000);
});
