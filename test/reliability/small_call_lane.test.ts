/**
 * The default path of a small async forward: the per-env small-call lane (binding/forward_lane.h),
 * a dedicated thread instead of libuv's pool. Still off the JS thread and still the pool's contract:
 * the bits of forwardSync, call order against writers (backward) made before and after, bad batches
 * rejected with forwardSync's code and message, many calls in flight at once, async context kept
 * across the await; and clean ends with lane calls in flight (process exit, worker_threads ending or
 * terminated, in child processes so an abort shows as a signal there), and no CPU spent once idle.
 */
import { AsyncLocalStorage } from 'async_hooks';
import { buildInfo, EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { expectRejects, expectThrows } from '../helpers/errors';
import { ChildResult, lastJson, patternEbc, runChild, sameBits, TableDef } from '../helpers/reliability';
import { Rng } from '../helpers/random';
import { randomBatch } from '../helpers/random_batch';

const TABLES: TableDef[] = [
  { name: 'a', num_embeddings: 2000, embedding_dim: 16, feature_names: ['f1', 'f2'] },
  { name: 'b', num_embeddings: 300, embedding_dim: 8, pooling: 'MEAN', feature_names: ['f2'] },
  { name: 'c', num_embeddings: 500, embedding_dim: 12, data_type: 'fp16', feature_names: ['f3'] },
];
const KEYS = ['f1', 'f2', 'f3'];
const ROWS = { f1: 2000, f2: 300, f3: 500 };

function smallBatches(seed: number, count: number): KeyedJaggedTensor[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () =>
    KeyedJaggedTensor.fromLengths(randomBatch(rng, { keys: KEYS, rows: ROWS, batch: rng.int(1, 32), length: 6 })),
  );
}

test('this build has the lane (cmake-js and node-gyp find libuv in the headers node ships)', () => {
  expect(buildInfo().smallCallLane).toBe(true);
});

test('TORCHREC_SMALL_CALL_LANE=0 sends small forwards to the pool: buildInfo says so, the bits stay', async () => {
  const r = await runChild('lane_scenarios.js', ['lane-off'], { env: { TORCHREC_SMALL_CALL_LANE: '0' } });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(lastJson(r)).toEqual({ scenario: 'lane-off', lane: false, same: true });
});

describe('small async forwards on the lane', () => {
  const ebc = patternEbc(TABLES);
  afterAll(() => ebc.dispose());

  test('sequential awaits give the bits of forwardSync', async () => {
    for (const kjt of smallBatches(1, 200)) {
      const kt = await ebc.forward(kjt);
      expect(sameBits(kt.values(), ebc.forwardSync(kjt).values())).toBe(true);
    }
  });

  test('1000 at once (Promise.all) each give the bits of forwardSync', async () => {
    const kjts = smallBatches(2, 1000);
    const results = await Promise.all(kjts.map((k) => ebc.forward(k)));
    results.forEach((kt, i) => expect(sameBits(kt.values(), ebc.forwardSync(kjts[i]).values())).toBe(true));
  });

  test('bad ids reject with the code and message forwardSync throws; the calls around them succeed', async () => {
    const good = smallBatches(3, 20);
    const bad = KeyedJaggedTensor.fromLengths({ keys: KEYS, values: [1, 2, 2000, 3], lengths: [2, 1, 0, 1, 0, 0] });
    const thrown = expectThrows(() => ebc.forwardSync(bad), 'ERR_INDEX_OUT_OF_RANGE', 'f1', '2000');
    const calls = good.flatMap((k, i) => (i % 4 === 0 ? [ebc.forward(bad), ebc.forward(k)] : [ebc.forward(k)]));
    const settled = await Promise.allSettled(calls);
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(5);
    const rejected = await expectRejects(ebc.forward(bad), 'ERR_INDEX_OUT_OF_RANGE', 'f1', '2000');
    expect(rejected.message).toBe(thrown.message);
    for (const s of settled) {
      if (s.status === 'rejected') expect((s.reason as { code: string }).code).toBe('ERR_INDEX_OUT_OF_RANGE');
    }
    const oks = settled.filter((s) => s.status === 'fulfilled');
    expect(oks).toHaveLength(good.length);
    oks.forEach((s, i) => {
      const kt = (s as PromiseFulfilledResult<Awaited<ReturnType<typeof ebc.forward>>>).value;
      expect(sameBits(kt.values(), ebc.forwardSync(good[i]).values())).toBe(true);
    });
  });

  test('an await continuation keeps its AsyncLocalStorage context', async () => {
    const als = new AsyncLocalStorage<string>();
    const [kjt] = smallBatches(4, 1);
    const seen = await Promise.all(
      ['x', 'y', 'z'].map((store) =>
        als.run(store, async () => {
          await ebc.forward(kjt);
          await ebc.forward(kjt);
          return als.getStore();
        }),
      ),
    );
    expect(seen).toEqual(['x', 'y', 'z']);
  });
});

test('forwards interleaved with backward (a writer) see the weights of their place in call order', async () => {
  const tables = [{ name: 'user', num_embeddings: 50, embedding_dim: 4, feature_names: ['u1', 'u2'] }];
  const make = () =>
    new EmbeddingBagCollection({ tables: [{ ...tables[0], optimizer: { sgd: { lr: 0.25 } } }], seed: 3 });
  const ebc = make();
  const twin = make();
  const rng = new Rng(5);
  const kjts = Array.from({ length: 12 }, () =>
    KeyedJaggedTensor.fromLengths(
      randomBatch(rng, { keys: ['u1', 'u2'], rows: { u1: 50, u2: 50 }, batch: 3, length: 3 }),
    ),
  );
  const grad = Float32Array.from({ length: 3 * 8 }, (_, i) => (i % 5) - 2);
  // Pattern per step: two forwards (concurrent readers), a backward, one more forward.
  const plan: ('f' | 'b')[] = ['f', 'f', 'b', 'f', 'f', 'b', 'b', 'f', 'f', 'f', 'b', 'f'];
  const pending: Promise<unknown>[] = [];
  const expected: (Float32Array | null)[] = [];
  for (let i = 0; i < plan.length; i++) {
    if (plan[i] === 'f') {
      pending.push(ebc.forward(kjts[i]));
      expected.push(twin.forwardSync(kjts[i]).values());
    } else {
      pending.push(ebc.backward(kjts[i], grad));
      await twin.backward(kjts[i], grad);
      expected.push(null);
    }
  }
  const results = await Promise.all(pending);
  results.forEach((r, i) => {
    const want = expected[i];
    if (want) expect(sameBits((r as { values(): Float32Array }).values(), want)).toBe(true);
  });
  ebc.dispose();
  twin.dispose();
});

describe('clean ends with small forwards in flight (child processes)', () => {
  const clean = { code: 0, signal: null, crashed: false };
  const crashed = (stderr: string) => /terminate called|Aborted|Segmentation|FATAL|uv loop/i.test(stderr);

  async function ended(scenario: string): Promise<ChildResult> {
    const r = await runChild('lane_scenarios.js', [scenario], { timeoutMs: 60000 });
    expect({ code: r.code, signal: r.signal, crashed: crashed(r.stderr) }).toEqual(clean);
    return r;
  }

  test.each([
    ['exit-now', 'process.exit() right after starting 300 forwards'],
    ['exit-in-then', 'process.exit() in a result right after starting 300 more'],
    ['return', 'falling off the end after dispose(): every forward still finishes'],
  ])(
    '%s: %s',
    async (scenario) => {
      const seen = lastJson<{ resolved: number }>(await ended(scenario));
      if (scenario === 'return') expect(seen.resolved).toBe(300);
      else expect(seen.resolved).toBeLessThanOrEqual(300);
    },
    70000,
  );

  test('terminate(): workers terminated with lane calls pending, five times over; the process goes on', async () => {
    expect(lastJson(await ended('terminate'))).toEqual({ scenario: 'terminate', codes: [1, 1, 1, 3], same: true });
  }, 70000);

  test('process.exit() on the main thread while workers have lane calls in flight', async () => {
    expect(lastJson(await ended('exit-workers'))).toEqual({ scenario: 'exit-workers', workers: 3 });
  }, 70000);

  test('an idle process after a burst spends (almost) no CPU: the lane sleeps and the loop stops polling', async () => {
    const { idleCpuMs } = lastJson<{ idleCpuMs: number }>(await ended('idle-cpu'));
    // A spinning lane or a polling loop would use ~400 ms (one core) of the 400 ms window.
    expect(idleCpuMs).toBeLessThan(100);
  }, 70000);
});
