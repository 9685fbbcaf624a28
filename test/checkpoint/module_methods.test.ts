/** The persistence methods on the public module classes, and `pretrained` tables through `ready`. */
import * as fs from 'fs';

import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings, TorchrecError } from '../../lib';
import { tmpDir } from '../helpers/tmp';

const SNAPSHOT = path.join(__dirname, '..', 'fixtures', 'snapshots', 'ebc_snapshot');

function rawF32(file: string): Float32Array {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

let tmp: string;
beforeEach(() => {
  tmp = tmpDir('module');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a pretrained table starts from the snapshot once `ready` resolves', async () => {
  const le = new LargeEmbeddings({
    tables: [
      {
        name: 'user',
        num_embeddings: 1000,
        embedding_dim: 16,
        pretrained: { emb_name: 'user', embedding_snapshot_uri: SNAPSHOT },
      },
      { name: 'other', num_embeddings: 10, embedding_dim: 4 },
    ],
  });
  await le.ready;
  expect(Array.from(le.ebc.getWeights('user'))).toEqual(Array.from(rawF32(path.join(SNAPSHOT, 'user.f32'))));
});

test('a pretrained table of the wrong shape makes `ready` reject with ERR_CHECKPOINT', async () => {
  const ebc = new EmbeddingBagCollection({
    tables: [
      {
        name: 'user',
        num_embeddings: 999,
        embedding_dim: 16,
        pretrained: { emb_name: 'user', embedding_snapshot_uri: SNAPSHOT },
      },
    ],
  });
  await expect(ebc.ready).rejects.toBeInstanceOf(TorchrecError);
  await expect(ebc.ready).rejects.toMatchObject({ code: 'ERR_CHECKPOINT' });
});

test('EmbeddingBagCollection saveSnapshot / restoreSnapshot round-trip weights, state and step', async () => {
  const tables = [{ name: 't', num_embeddings: 50, embedding_dim: 8, optimizer: { adam: { lr: 0.1 } } }];
  const a = new EmbeddingBagCollection({ tables, seed: 3 });
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1, 2, 2, 49], lengths: [3, 1] });
  await a.backward(kjt, new Float32Array(2 * 8).fill(0.5));
  await a.saveSnapshot(path.join(tmp, 'snap'), { step: a.step, walltime: 12.5 });

  const b = new EmbeddingBagCollection({ tables, seed: 4 });
  expect(await b.restoreSnapshot(path.join(tmp, 'snap'))).toEqual({ step: 1, walltime: 12.5 });
  expect(b.step).toBe(1);
  expect(Array.from(b.getWeights('t'))).toEqual(Array.from(a.getWeights('t')));
  const sa = a.optimizerState('t');
  const sb = b.optimizerState('t');
  expect(Object.keys(sb).sort()).toEqual(['momentum1', 'momentum2']);
  expect(Array.from(sb.momentum2)).toEqual(Array.from(sa.momentum2));
});

test('LargeEmbeddings state dicts use the ebc. prefix and load back', async () => {
  const config = { tables: [{ name: 'user', num_embeddings: 20, embedding_dim: 4 }] };
  const a = new LargeEmbeddings(config, { seed: 1 });
  const file = path.join(tmp, 'sd.pt');
  await a.saveStateDict(file);
  const b = new LargeEmbeddings(config, { seed: 2 });
  await b.loadStateDict(file);
  expect(Array.from(b.ebc.getWeights('user'))).toEqual(Array.from(a.ebc.getWeights('user')));
  // The file names the tensor as the-algorithm-ml's module does.
  expect(fs.readFileSync(file).includes(Buffer.from('ebc.embedding_bags.user.weight'))).toBe(true);
});
