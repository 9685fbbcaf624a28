/**
 * TwHIN on 2 ranks (real processes on 127.0.0.1): with the tables sharded and each rank training on
 * half of every global batch, K steps give the weights, translation and losses of one process
 * training on the whole batches. No in-batch negatives here: they are drawn within each rank's
 * slice, so with them the runs differ by design (the demo compares held-out AUC instead).
 */
import { writeFileSync } from 'fs';
import * as path from 'path';
import { batchIndices, loadEdges } from '../../examples/twhin/data';
import { TwhinModel } from '../../examples/twhin/model';
import { cleanEnv, freePort, lastJson, start } from '../distributed/helpers';
import { TS_REGISTER } from '../helpers/reliability';
import { tinyConfig, tinyGraph, tmpDir } from './helpers';

const STEPS = 12;
const CHILD = path.join(__dirname, 'children', 'sharded_twhin.ts');

function expectClose(got: number[], want: ArrayLike<number>, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-6 + 1e-5 * Math.abs(want[i])));
  }
  // worst ≤ 1: every element within 1e-6 + 1e-5·|want| (float32 sums taken in another order).
  if (worst > 1) throw new Error(`${what}: off by ${worst.toFixed(2)}× the tolerance`);
}

describe('TwHIN sharded across 2 ranks', () => {
  it('K steps equal one process training on the same global batches', async () => {
    const dir = tmpDir('twhin-sharded');
    const data = await tinyGraph(dir);
    const whole = tinyConfig(data, path.join(dir, 'one'), { negatives: 0, batchSize: 100 });
    const half = tinyConfig(data, path.join(dir, 'two'), { negatives: 0, batchSize: 50 });
    const configFile = path.join(dir, 'half.json');
    writeFileSync(configFile, JSON.stringify(half));

    const port = await freePort();
    const ranks = [0, 1].map((r) =>
      start(
        ['-r', TS_REGISTER, CHILD, configFile, String(STEPS)],
        cleanEnv({ RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
        90_000,
      ),
    );

    const model = new TwhinModel(whole.model, whole.train_data, 0);
    await model.embeddings.ready;
    const edges = await loadEdges(whole.train_data.data_root, whole.model);
    const losses: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      losses.push(await model.trainStep(edges, batchIndices(edges.lhs.length, 100, step, 0), step));
    }

    const results = await Promise.all(ranks.map((r) => r.done));
    results.forEach((r) => expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' }));
    const got = lastJson<{
      losses: number[];
      user: number[];
      tweet: number[];
      translation: number[];
    }>(results[0]);
    expectClose(got.losses, losses, 'losses');
    expectClose(got.translation, model.translation, 'translation');
    expectClose(got.user, model.embeddings.ebc.getWeights('user'), 'user table');
    expectClose(got.tweet, model.embeddings.ebc.getWeights('tweet'), 'tweet table');
    // Training moved the tables: the comparison is not between two initial states.
    expect(losses[STEPS - 1]).toBeLessThan(losses[0]);
    model.embeddings.ebc.dispose();
  }, 120_000);
});
