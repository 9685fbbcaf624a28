/**
 * A restore on a live collection takes its place in call order (DESIGN "Serving"): forwards issued
 * before it see the old tables, forwards issued after it the new ones, none fails, and the old
 * mapping goes away once the last forward that used it has ended.
 */
import * as path from 'path';
import { EmbeddingBagCollection, KeyedTensor } from '../../lib';
import { tmpDir } from '../helpers/tmp';
import { sameBits } from '../helpers/reliability';
import { batch, makeEbc, mappingsOf } from './helpers';

const SALTS = 3;

describe('hot swap under concurrent forwards', () => {
  const snaps: string[] = [];
  const expected: Float32Array[][] = []; // [snapshot][salt]
  beforeAll(async () => {
    const root = tmpDir('hot-swap');
    for (const seed of [101, 202]) {
      const m = makeEbc(seed);
      const dir = path.join(root, `s${seed}`);
      await m.saveSnapshot(dir);
      snaps.push(dir);
      const outs: Float32Array[] = [];
      for (let s = 0; s < SALTS; s++) outs.push((await m.forward(batch(16, s))).values());
      expected.push(outs);
      m.dispose();
    }
  });

  test('200 forwards with swaps between them: each sees exactly the snapshot restored before its call', async () => {
    const serving = makeEbc(1);
    await serving.restoreSnapshot(snaps[0], { mmap: true });
    const swapsAt = new Map([
      [40, 1],
      [90, 0],
      [91, 1],
      [150, 0],
    ]);
    let active = 0;
    const calls: { active: number; salt: number; out: Promise<KeyedTensor> }[] = [];
    const swaps: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const next = swapsAt.get(i);
      if (next !== undefined) {
        swaps.push(serving.restoreSnapshot(snaps[next], { mmap: true }));
        active = next;
      }
      calls.push({ active, salt: i % SALTS, out: serving.forward(batch(16, i % SALTS)) });
    }
    const results = await Promise.allSettled(calls.map((c) => c.out));
    await Promise.all(swaps);
    const wrong = results
      .map((r, i) => ({ r, c: calls[i], i }))
      .filter(({ r, c }) => r.status !== 'fulfilled' || !sameBits(r.value.values(), expected[c.active][c.salt]));
    expect(wrong.map(({ i, c }) => ({ i, expected: c.active }))).toEqual([]);
    // The last swap went to snapshot 0: snapshot 1's files are no longer mapped.
    expect(mappingsOf(path.join(snaps[1], '0', 'model', 'embedding_bags.user.weight'))).toBe(0);
    expect(mappingsOf(path.join(snaps[0], '0', 'model', 'embedding_bags.user.weight'))).toBe(1);
    expect(serving.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
    serving.dispose();
  });

  test('a restore into a live in-memory collection swaps in order too, and forwards never fail', async () => {
    const serving: EmbeddingBagCollection = makeEbc(202); // starts equal to snapshot 1's weights
    const before = Array.from({ length: 50 }, (_, i) => serving.forward(batch(16, i % SALTS)));
    const swap = serving.restoreSnapshot(snaps[0], { mmap: true });
    const after = Array.from({ length: 50 }, (_, i) => serving.forward(batch(16, i % SALTS)));
    await swap;
    (await Promise.all(before)).forEach((kt, i) => expect(sameBits(kt.values(), expected[1][i % SALTS])).toBe(true));
    (await Promise.all(after)).forEach((kt, i) => expect(sameBits(kt.values(), expected[0][i % SALTS])).toBe(true));
    serving.dispose();
  });
});
