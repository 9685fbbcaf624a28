/**
 * The TypeScript types say what a sharded collection returns: built with a ProcessGroup, getWeights,
 * optimizerState and managedIdStats are Promises (collective reads); built without one they stay synchronous. The
 * @ts-expect-error lines are checked by ts-jest's type check: if the types lied, this file would not
 * compile. One rank (worldSize 1) in this process, on a free port.
 */
import { EmbeddingBagCollection } from '../../lib/ebc';
import { ProcessGroup } from '../../lib/distributed/process_group';
import { freePort } from './helpers';

const tables = [{ name: 't', num_embeddings: 5, embedding_dim: 4, optimizer: { adam: { lr: 0.1 } } }];

/** A one-rank group in this process on a free port, destroyed after `fn`. */
async function oneRank(fn: (pg: ProcessGroup) => Promise<void>): Promise<void> {
  const pg = await ProcessGroup.init({
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: await freePort(),
    timeoutMs: 10000,
  });
  try {
    await fn(pg);
  } finally {
    pg.destroy();
  }
}

test('getWeights and optimizerState are typed as Promises on a sharded collection, as arrays otherwise', () =>
  oneRank(async (pg) => {
    const sharded = new EmbeddingBagCollection({ tables, seed: 3, processGroup: pg, plan: { t: 'column_wise' } });
    const local = new EmbeddingBagCollection({ tables, seed: 3 });
    const weights: Promise<Float32Array> = sharded.getWeights('t');
    const state: Promise<Record<string, Float32Array>> = sharded.optimizerState('t');
    // @ts-expect-error a sharded collection's getWeights is a Promise, not the array
    const notArray: Float32Array = sharded.getWeights('t');
    const localWeights: Float32Array = local.getWeights('t');
    const localState: Record<string, Float32Array> = local.optimizerState('t');
    // @ts-expect-error an unsharded collection's getWeights is the array itself
    const notPromise: Promise<Float32Array> = local.getWeights('t');
    expect(sharded.processGroup).toBe(pg);
    expect(local.processGroup).toBeUndefined();
    expect(weights).toBeInstanceOf(Promise);
    expect(notArray).toBeInstanceOf(Promise);
    expect(notPromise).toBeInstanceOf(Float32Array);
    expect(await weights).toEqual(localWeights);
    expect(await notArray).toEqual(localWeights);
    expect(await state).toEqual(localState);
    sharded.dispose();
    local.dispose();
  }));

test('managedIdStats is typed as a Promise on a sharded collection and as the record otherwise', () =>
  oneRank(async (pg) => {
    const managed = [
      { name: 'm', num_embeddings: 10, embedding_dim: 4, managed_collision: {}, optimizer: { sgd: { lr: 0.1 } } },
    ];
    const sharded = new EmbeddingBagCollection({ tables: managed, seed: 3, processGroup: pg });
    const local = new EmbeddingBagCollection({ tables: managed, seed: 3 });
    const stats: Promise<Record<string, { residents: number }>> = sharded.managedIdStats();
    // @ts-expect-error a sharded collection's managedIdStats is a Promise
    const notRecord: Record<string, { residents: number }> = sharded.managedIdStats();
    const localStats: Record<string, { residents: number }> = local.managedIdStats();
    expect(notRecord).toBeInstanceOf(Promise);
    await notRecord;
    expect(await stats).toEqual(localStats);
    sharded.dispose();
    local.dispose();
  }));
