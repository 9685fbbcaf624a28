/**
 * TRAIN forwards admit ids, so they change state: issued concurrently (forwards, backwards that run
 * eviction passes, EVALUATE forwards, stats reads), they must give bit-for-bit the results of the
 * same calls made one at a time on a twin. Row hand-out is order-dependent, so any reordering of two
 * admitting forwards would show up as a different row for some id.
 */
import { EmbeddingBagCollection, Mode } from '../../lib';
import { Rng } from '../helpers/random';
import { DIM, batch, managedEbc } from './helpers';

type Op =
  { kind: 'forward' | 'evalForward'; bags: bigint[][] } | { kind: 'backward'; bags: bigint[][]; grad: Float32Array };

function ops(seed: number): Op[] {
  const r = new Rng(seed);
  const out: Op[] = [];
  for (let i = 0; i < 60; i++) {
    const bags = Array.from({ length: r.int(1, 4) }, () =>
      Array.from({ length: r.int(0, 3) }, () => BigInt(r.int(-30, 30))),
    );
    const roll = r.next();
    if (roll < 0.5) out.push({ kind: 'forward', bags });
    else if (roll < 0.65) out.push({ kind: 'evalForward', bags });
    else
      out.push({
        kind: 'backward',
        bags,
        grad: Float32Array.from({ length: bags.length * DIM }, () => r.next() - 0.5),
      });
  }
  return out;
}

function make(): EmbeddingBagCollection {
  return managedEbc({ rows: 12, policy: 'lru', interval: 2, optimizer: { rowwise_adagrad: { lr: 0.2 } } });
}

/** Issues op `o` on `ebc`; EVALUATE forwards switch the mode around their call (mode is read at call time). */
function issue(ebc: EmbeddingBagCollection, o: Op): Promise<unknown> {
  if (o.kind === 'backward') return ebc.backward(batch(o.bags), o.grad);
  if (o.kind === 'forward') return ebc.forward(batch(o.bags)).then((kt) => Array.from(kt.values()));
  ebc.setMode(Mode.EVALUATE);
  const p = ebc.forward(batch(o.bags)).then((kt) => Array.from(kt.values()));
  ebc.setMode(Mode.TRAIN);
  return p;
}

test.each([1, 2, 3])('concurrent calls give the results of the same calls in order (seed %i)', async (seed) => {
  const list = ops(seed);
  const concurrent = make();
  const sequential = make();
  try {
    const pending = list.map((o) => issue(concurrent, o));
    const statsMid = concurrent.managedIdStats(); // a reader: waits for every call made before it
    const got = await Promise.all(pending);
    const want: unknown[] = [];
    for (const o of list) want.push(await issue(sequential, o));
    expect(statsMid).toEqual(sequential.managedIdStats());
    expect(got).toEqual(want);
    expect(concurrent.getWeights('t')).toEqual(sequential.getWeights('t'));
    expect(concurrent.optimizerState('t')).toEqual(sequential.optimizerState('t'));
    expect(sequential.managedIdStats().t.evicted).toBeGreaterThan(0);
  } finally {
    concurrent.dispose();
    sequential.dispose();
  }
});
