/**
 * Calls issued concurrently on one module apply in call order: hundreds of interleaved forwards,
 * backwards (some failing), forwardSync/getWeights/setWeights on the JS thread, all issued without
 * waiting, must give bit-for-bit the results of running the same calls one at a time on a twin.
 * Every kernel is deterministic, so any reordering or torn read would show up as a difference.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { Rng } from '../helpers/random';
import { randomBatch, toKjt } from '../helpers/random_batch';
import { randomGrad } from './helpers';

const TABLES = [
  {
    name: 'big',
    num_embeddings: 500,
    embedding_dim: 16,
    feature_names: ['f1', 'f2'],
    optimizer: {
      adam: { lr: 0.01 },
      learning_rate: { linear_ramp_to_constant: { learning_rate: 0.05, num_ramp_steps: 40 } },
    },
  },
  {
    name: 'half',
    num_embeddings: 200,
    embedding_dim: 8,
    data_type: 'fp16',
    feature_names: ['f2', 'f3'],
    optimizer: { rowwise_adagrad: { lr: 0.1 } },
  },
  { name: 'mean', num_embeddings: 100, embedding_dim: 4, pooling: 'MEAN', feature_names: ['f4'] },
];
const WIDTH = 16 * 2 + 8 * 2 + 4;
const KEYS = ['f1', 'f2', 'f3', 'f4'];
const ROWS: Record<string, number> = { f1: 500, f2: 200, f3: 200, f4: 100 }; // f2 is read by big and half

function build(): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: TABLES,
    seed: 21,
    optimizer: {
      init_learning_rate: 0.2,
      learning_rate: { piecewise_constant: { learning_rate_boundaries: [30], learning_rate_values: [0.2, 0.02] } },
    },
  });
}

type Op =
  | { kind: 'forward' | 'forwardSync'; kjt: KeyedJaggedTensor }
  | { kind: 'backward'; kjt: KeyedJaggedTensor; grad: Float32Array }
  | { kind: 'getWeights'; table: string }
  | { kind: 'setWeights'; table: string; data: Float32Array };

function randomKjt(r: Rng, batch: number, bad: boolean): KeyedJaggedTensor {
  // Bags of 0..5 ids (empty ones included), skewed ids so rows repeat within and across calls.
  const b = randomBatch(r, { keys: KEYS, rows: ROWS, batch, length: 5, ids: 'skewed' });
  if (bad && b.values.length > 0) b.values[b.values.length - 1] = 10_000;
  return toKjt(b);
}

function plan(count: number, seed: number): Op[] {
  const rand = new Rng(seed);
  const next = () => rand.next();
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const batch = 1 + Math.floor(next() * 48);
    const r = next();
    if (r < 0.4) ops.push({ kind: 'forward', kjt: randomKjt(rand, batch, false) });
    else if (r < 0.75)
      ops.push({ kind: 'backward', kjt: randomKjt(rand, batch, next() < 0.1), grad: randomGrad(batch * WIDTH, next) });
    else if (r < 0.85) ops.push({ kind: 'forwardSync', kjt: randomKjt(rand, batch, false) });
    else if (r < 0.95) ops.push({ kind: 'getWeights', table: TABLES[Math.floor(next() * 3)].name });
    else {
      const t = TABLES[Math.floor(next() * 3)];
      ops.push({ kind: 'setWeights', table: t.name, data: randomGrad(t.num_embeddings * t.embedding_dim, next) });
    }
  }
  return ops;
}

/** What each call produced: an output, an error code, or nothing. */
type Outcome = Float32Array | string | undefined;

async function settle(p: Promise<Float32Array | undefined>): Promise<Outcome> {
  return p.then(
    (v) => v,
    (e: { code: string }) => `error ${e.code}`,
  );
}

function issue(ebc: EmbeddingBagCollection, op: Op): Promise<Outcome> {
  switch (op.kind) {
    case 'forward':
      return settle(ebc.forward(op.kjt).then((kt) => kt.values()));
    case 'backward':
      return settle(ebc.backward(op.kjt, op.grad).then(() => undefined));
    case 'forwardSync':
      return Promise.resolve(ebc.forwardSync(op.kjt).values());
    case 'getWeights':
      return Promise.resolve(ebc.getWeights(op.table));
    case 'setWeights':
      ebc.setWeights(op.table, op.data);
      return Promise.resolve(undefined);
  }
}

function finalState(ebc: EmbeddingBagCollection): unknown {
  return {
    step: ebc.step,
    weights: TABLES.map((t) => ebc.getWeights(t.name)),
    state: TABLES.map((t) => ebc.optimizerState(t.name)),
  };
}

test.each([1, 2, 3])('400 interleaved calls equal sequential application (plan %i)', async (seed) => {
  const ops = plan(400, seed);
  const concurrent = build();
  const sequential = build();

  const pending = ops.map((op) => issue(concurrent, op)); // nothing awaited until all are issued
  const got = await Promise.all(pending);

  const want: Outcome[] = [];
  for (const op of ops) want.push(await issue(sequential, op));

  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    if (typeof want[i] === 'string' || want[i] === undefined) expect([i, g]).toEqual([i, want[i]]);
    else
      expect([
        i,
        Buffer.from((g as Float32Array).buffer).equals(Buffer.from((want[i] as Float32Array).buffer)),
      ]).toEqual([i, true]);
  });
  expect(finalState(concurrent)).toEqual(finalState(sequential));
  const backwards = ops.filter((o) => o.kind === 'backward').length;
  const failed = want.filter((w) => w === 'error ERR_INDEX_OUT_OF_RANGE').length;
  expect(failed).toBeGreaterThan(0);
  expect(concurrent.step).toBe(backwards - failed);
});

test('a forward issued before a backward sees the old weights; one issued after sees the new', async () => {
  const ebc = build();
  const r = new Rng(99);
  const next = () => r.next();
  const kjt = randomKjt(r, 16, false);
  const grad = randomGrad(16 * WIDTH, next);
  const before = ebc.forwardSync(kjt).values();
  const [early, , late] = await Promise.all([ebc.forward(kjt), ebc.backward(kjt, grad), ebc.forward(kjt)]);
  expect(early.values()).toEqual(before);
  expect(late.values()).not.toEqual(before);
  expect(late.values()).toEqual(ebc.forwardSync(kjt).values());
});
