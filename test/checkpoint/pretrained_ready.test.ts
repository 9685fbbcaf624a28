/**
 * A collection with `pretrained` tables runs nothing on its random initial weights: forward,
 * forwardSync and backward issued before `ready` reject (as for vocabularies) instead of computing
 * with weights that the load then overwrites; after `ready` they see the pretrained weights.
 */
import { promises as fsp } from 'fs';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { tmpDir } from './helpers';

const TABLE = { name: 'user', num_embeddings: 6, embedding_dim: 4, optimizer: { sgd: { lr: 0.1 } } };
const kjt = () => KeyedJaggedTensor.fromLengths({ keys: ['user'], values: [0, 5, 2], lengths: [2, 1] });

test('forward, forwardSync and backward before ready reject naming the table; after ready they use its weights', async () => {
  const root = tmpDir('pretrained-ready');
  try {
    const source = new EmbeddingBagCollection({ tables: [TABLE], seed: 1 });
    await source.saveSnapshot(root);
    const pretrained = { emb_name: 'user', embedding_snapshot_uri: root };
    const ebc = new EmbeddingBagCollection({ tables: [{ ...TABLE, pretrained }], seed: 2 });

    const message = 'await ebc.ready before forwardSync: the pretrained table "user" is still loading';
    expectThrows(() => ebc.forwardSync(kjt()), 'ERR_INVALID_ARGUMENT', message);
    await expect(ebc.forward(kjt())).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('pretrained table "user"'),
    });
    await expect(ebc.backward(kjt(), new Float32Array(8))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('await ebc.ready before backward'),
    });
    expect(ebc.step).toBe(0);

    await ebc.ready;
    expect(ebc.getWeights('user')).toEqual(source.getWeights('user'));
    expect((await ebc.forward(kjt())).values()).toEqual((await source.forward(kjt())).values());
    await ebc.backward(kjt(), new Float32Array(8).fill(1));
    expect(ebc.step).toBe(1);
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
});

test('a pretrained load that fails keeps every later call failing with its reason', async () => {
  const pretrained = { emb_name: 'user', embedding_snapshot_uri: '/nonexistent/snapshot' };
  const ebc = new EmbeddingBagCollection({ tables: [{ ...TABLE, pretrained }], seed: 2 });
  await expect(ebc.ready).rejects.toMatchObject({ code: 'ERR_CHECKPOINT' });
  expectThrows(() => ebc.forwardSync(kjt()), 'ERR_INVALID_ARGUMENT', 'the pretrained table "user" failed to load');
});
