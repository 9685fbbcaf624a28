/**
 * followSnapshots (DESIGN "Serving"): restores the newest complete `<saveDir>/<step>` snapshot at
 * start and whenever one appears, ignores incomplete ones, and stops cleanly.
 */
import * as fs from 'fs';
import * as path from 'path';
import { followSnapshots, Mode } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { tmpDir } from '../helpers/tmp';
import { sameBits } from '../helpers/reliability';
import { makeEbc } from './helpers';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

describe('followSnapshots', () => {
  test('follows new complete snapshots, ignores incomplete ones, and nothing happens after stop()', async () => {
    const saveDir = tmpDir('follow');
    const a = makeEbc(1);
    const b = makeEbc(2);
    const c = makeEbc(3);
    const serving = makeEbc(4);
    const swaps: number[] = [];
    const follower = followSnapshots(serving, saveDir, { intervalMs: 20, mmap: true, onSwap: (s) => swaps.push(s) });
    await sleep(100);
    expect(swaps).toEqual([]); // nothing saved yet

    await a.saveSnapshot(path.join(saveDir, '10'), { step: 10 });
    await until(() => swaps.length === 1);
    expect(swaps).toEqual([10]);
    expect(sameBits(serving.getWeights('user'), a.getWeights('user'))).toBe(true);
    expect(serving.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
    expect(serving.mode).toBe(Mode.INFERENCE);

    // A newer save still in progress (no .snapshot_metadata yet) is ignored: made aside, then moved in.
    const aside = path.join(tmpDir('follow-aside'), '20');
    await b.saveSnapshot(aside, { step: 20 });
    fs.rmSync(path.join(aside, '.snapshot_metadata'));
    fs.renameSync(aside, path.join(saveDir, '20'));
    fs.mkdirSync(path.join(saveDir, '25')); // an empty step directory
    await sleep(200);
    expect(swaps).toEqual([10]);

    await c.saveSnapshot(path.join(saveDir, '30'), { step: 30 });
    await until(() => swaps.length === 2);
    expect(swaps).toEqual([10, 30]);
    expect(sameBits(serving.getWeights('tweet'), c.getWeights('tweet'))).toBe(true);

    await follower.stop();
    await b.saveSnapshot(path.join(saveDir, '40'), { step: 40 });
    await sleep(200);
    expect(swaps).toEqual([10, 30]);
    expect(sameBits(serving.getWeights('user'), c.getWeights('user'))).toBe(true);
    for (const m of [a, b, c, serving]) m.dispose();
  });

  test('stop() during the first restore resolves after it, and no restore follows', async () => {
    const saveDir = tmpDir('follow-stop');
    const a = makeEbc(5);
    await a.saveSnapshot(path.join(saveDir, '7'), { step: 7 });
    const serving = makeEbc(6);
    const swaps: number[] = [];
    const follower = followSnapshots(serving, saveDir, { intervalMs: 10, onSwap: (s) => swaps.push(s) });
    await follower.stop();
    const seen = swaps.length;
    expect(seen).toBeLessThanOrEqual(1);
    if (seen === 1) expect(sameBits(serving.getWeights('user'), a.getWeights('user'))).toBe(true);
    await a.saveSnapshot(path.join(saveDir, '8'), { step: 8 });
    await sleep(150);
    expect(swaps.length).toBe(seen);
    a.dispose();
    serving.dispose();
  });

  test('a snapshot that cannot be restored is reported once and the module keeps its tables', async () => {
    const saveDir = tmpDir('follow-bad');
    const a = makeEbc(8);
    await a.saveSnapshot(path.join(saveDir, '1'), { step: 1 });
    const serving = makeEbc(9);
    const errors: string[] = [];
    const swaps: number[] = [];
    const follower = followSnapshots(serving, saveDir, {
      intervalMs: 20,
      mmap: true,
      onSwap: (s) => swaps.push(s),
      onError: (e, dir) => errors.push(`${path.basename(dir)}: ${(e as { code?: string }).code}`),
    });
    await until(() => swaps.length === 1);
    await a.saveSnapshot(path.join(saveDir, '2'), { step: 2 });
    fs.appendFileSync(path.join(saveDir, '2', '0', 'model', 'embedding_bags.user.weight'), Buffer.alloc(4));
    await until(() => errors.length === 1);
    await sleep(150);
    expect(errors).toEqual(['2: ERR_CHECKPOINT']);
    expect(swaps).toEqual([1]);
    expect(sameBits(serving.getWeights('user'), a.getWeights('user'))).toBe(true);
    await follower.stop();
    a.dispose();
    serving.dispose();
  });

  test('bad arguments are ERR_INVALID_ARGUMENT', () => {
    const m = makeEbc(1);
    expectThrows(() => followSnapshots(m, ''), 'ERR_INVALID_ARGUMENT', 'saveDir');
    expectThrows(() => followSnapshots(m, '/tmp', { intervalMs: -1 }), 'ERR_INVALID_ARGUMENT', 'intervalMs');
    expectThrows(() => followSnapshots(m, '/tmp', { onSwap: 3 } as never), 'ERR_INVALID_ARGUMENT', 'onSwap');
    expectThrows(() => followSnapshots({} as never, '/tmp'), 'ERR_INVALID_ARGUMENT', 'restoreSnapshot');
    m.dispose();
  });
});
