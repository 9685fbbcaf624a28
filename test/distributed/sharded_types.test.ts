/**
 * The TypeScript types say what a sharded collection returns: built with a ProcessGroup, getWeights
 * and optimizerState are Promises (collective reads); built without one they stay synchronous. The
 * @ts-expect-error lines are checked by ts-jest's type check: if the types lied, this file would not
 * compile. One rank (worldSize 1) in this process, on a free port.
 */
import { EmbeddingBagCollection } from '../../lib/ebc';
import { ProcessGroup } from '../../lib/distributed/process_group';
import { freePort } from './helpers';

const tables = [{ name: 't', num_embeddings: 5, embedding_dim: 4, optimizer: { adam: { lr: 0.1 } } }];

test('getWeights and optimizerState are typed as Promises on a sharded collection, as arrays otherwise', async () => {
  const pg = await ProcessGroup.init({
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: await freePort(),
    timeoutMs: 10000,
  });
  try {
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
  } finally {
    pg.destroy();
  }
});
