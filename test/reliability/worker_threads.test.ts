/**
 * The addon in worker_threads (several at once, each with its own collection, results equal to the
 * main thread's), and clean ends with forwards still in flight: process.exit, falling off the end,
 * worker.terminate(), process.exit inside a worker. The ends run in child processes, so that an
 * abort shows as a signal there instead of killing the test runner.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { KeyedJaggedTensor } from '../../lib';
import { ChildResult, CHILDREN_DIR, lastJson, patternEbc, runChild, sameBits, TableDef } from '../helpers/reliability';
import { Rng } from '../helpers/random';
import { RandomBatch, randomBatch } from '../helpers/random_batch';

const TABLES: TableDef[] = [
  { name: 'a', num_embeddings: 2000, embedding_dim: 16, feature_names: ['f1', 'f2'] },
  { name: 'b', num_embeddings: 300, embedding_dim: 8, pooling: 'MEAN', feature_names: ['f2'] },
  { name: 'c', num_embeddings: 500, embedding_dim: 12, data_type: 'fp16', feature_names: ['f3'] },
];
const ROWS = { f1: 2000, f2: 300, f3: 500 };

interface Compared {
  async: Float32Array[];
  sync: Float32Array[];
}

function runWorker(batches: RandomBatch[]): Promise<Compared> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(CHILDREN_DIR, 'ebc_worker.js'), {
      workerData: { mode: 'compare', tables: TABLES, isWeighted: false, batches },
    });
    let result: Compared | undefined;
    worker.once('message', (m: Compared) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      code === 0 && result ? resolve(result) : reject(new Error(`worker exited with ${code}`)),
    );
  });
}

test('four workers at once, each with its own collection, compute what the main thread computes', async () => {
  const rng = new Rng(21);
  const perWorker = Array.from({ length: 4 }, () =>
    Array.from({ length: 12 }, () =>
      randomBatch(rng, {
        keys: ['f1', 'f2', 'f3'],
        rows: ROWS,
        batch: rng.int(1, 128),
        length: rng.int(0, 20),
        weight: (g) => g.int(-8, 8) / 4,
      }),
    ),
  );
  const main = patternEbc(TABLES);
  // The main thread keeps forwarding while the workers run.
  const mainPending = perWorker.flat().map((b) => main.forward(KeyedJaggedTensor.fromLengths(b)));
  const fromWorkers = await Promise.all(perWorker.map(runWorker));
  const mainAsync = await Promise.all(mainPending);

  perWorker.forEach((batches, w) => {
    batches.forEach((b, i) => {
      const expected = main.forwardSync(KeyedJaggedTensor.fromLengths(b)).values();
      expect(expected.length).toBe((b.lengths.length / 3) * (16 + 16 + 8 + 12));
      expect(sameBits(fromWorkers[w].async[i], expected)).toBe(true);
      expect(sameBits(fromWorkers[w].sync[i], expected)).toBe(true);
      expect(sameBits(mainAsync[w * batches.length + i].values(), expected)).toBe(true);
    });
  });
  main.dispose();
});

describe('the process ends cleanly with forwards in flight', () => {
  const clean = { code: 0, signal: null, crashed: false };
  const crashed = (stderr: string) => /terminate called|Aborted|Segmentation|FATAL ERROR|core dumped/i.test(stderr);
  const scenarios = ['exit-now', 'exit-in-then', 'return', 'terminate', 'exit-workers'];
  const runs = new Map<string, Promise<ChildResult>>();
  // The children run concurrently; each test waits for its own.
  beforeAll(() => scenarios.forEach((s) => runs.set(s, runChild('exit_scenarios.js', [s]))));

  async function ended(scenario: string): Promise<ChildResult> {
    const r = await (runs.get(scenario) as Promise<ChildResult>);
    expect({ code: r.code, signal: r.signal, crashed: crashed(r.stderr) }).toEqual(clean);
    return r;
  }

  test.each([
    ['exit-now', 'process.exit() right after starting 100 forwards'],
    ['exit-in-then', 'process.exit() in the first result while 99 still run'],
    ['return', 'falling off the end after dispose(): every forward still finishes'],
  ])('%s: %s', async (scenario) => {
    const seen = lastJson<{ resolved: number }>(await ended(scenario));
    if (scenario === 'return') expect(seen.resolved).toBe(100);
    else expect(seen.resolved).toBeLessThan(100);
  });

  test('terminate(): workers terminated with forwards pending, one exiting itself; the process goes on', async () => {
    // terminate() gives exit code 1; the worker that called process.exit(3) gives 3.
    expect(lastJson(await ended('terminate'))).toEqual({ scenario: 'terminate', codes: [1, 1, 1, 3], same: true });
  });

  test('process.exit() on the main thread while workers have forwards in flight', async () => {
    expect(lastJson(await ended('exit-workers'))).toEqual({ scenario: 'exit-workers', workers: 3 });
  });
});
