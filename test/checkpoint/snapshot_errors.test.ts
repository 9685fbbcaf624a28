/**
 * Bad snapshots: each is an ERR_CHECKPOINT naming the file and the entry, and the module is left
 * exactly as it was (weights, optimizer state, step).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection } from '../../lib';
import { restoreSnapshot, saveSnapshot } from '../../lib/checkpoint';
import { copyDir, expectCheckpointError, moduleState, randomFloats, SNAPSHOT_FIXTURES, tmpDir } from './helpers';

const GOLDEN = path.join(SNAPSHOT_FIXTURES, 'ebc_snapshot');
const USER = '0/model/ebc.embedding_bags.user.weight';
const TWEET = '0/model/ebc.embedding_bags.tweet.weight';

function golden(tables?: object[]): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: tables ?? [
      { name: 'user', num_embeddings: 1000, embedding_dim: 16, optimizer: { adagrad: { lr: 0.1 } } },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8 },
    ],
    seed: 21,
  });
}

type Manifest = { manifest: Record<string, Record<string, unknown>> };

describe('restoreSnapshot rejects bad snapshots and leaves the module as it was', () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = tmpDir('bad');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  /** A copy of the golden snapshot, with its metadata edited by `edit`. */
  async function variant(edit?: (m: Manifest) => void): Promise<string> {
    const dir = path.join(root, `v${n++}`);
    await copyDir(GOLDEN, dir);
    if (edit) {
      const file = path.join(dir, '.snapshot_metadata');
      const meta = JSON.parse(await fsp.readFile(file, 'utf8')) as Manifest;
      edit(meta);
      await fsp.writeFile(file, JSON.stringify(meta, null, 2));
    }
    return dir;
  }

  async function expectRejected(dir: string, mentions: (string | RegExp)[], m = golden()): Promise<void> {
    const before = moduleState(m);
    await expectCheckpointError(restoreSnapshot(m, dir, { keyPrefix: 'ebc.' }), mentions);
    expect(moduleState(m)).toEqual(before);
  }

  test('the unedited copy restores (the variants below differ from it in one way each)', async () => {
    await expect(restoreSnapshot(golden(), await variant(), { keyPrefix: 'ebc.' })).resolves.toEqual({
      step: 1234,
      walltime: 56.5,
    });
  });

  test('a missing snapshot directory', async () => {
    const dir = path.join(root, 'absent');
    await expectRejected(dir, [path.join(dir, '.snapshot_metadata'), 'does not exist']);
  });

  test('a directory without .snapshot_metadata (a save that never completed)', async () => {
    const dir = await variant();
    await fsp.rm(path.join(dir, '.snapshot_metadata'));
    await expectRejected(dir, [path.join(dir, '.snapshot_metadata'), 'never completed']);
  });

  test('truncated metadata', async () => {
    const dir = await variant();
    const file = path.join(dir, '.snapshot_metadata');
    const text = await fsp.readFile(file, 'utf8');
    await fsp.writeFile(file, text.slice(0, Math.floor(text.length / 2)));
    await expectRejected(dir, [file]);
  });

  test('a manifest naming a file that is not there', async () => {
    const dir = await variant();
    const slab = (await fsp.readdir(path.join(dir, 'batched')))[0];
    await fsp.rm(path.join(dir, 'batched', slab));
    await expectRejected(dir, [USER, path.join(dir, 'batched', slab), 'does not exist']);
  });

  test('a byte range beyond the end of the file (truncated slab)', async () => {
    const dir = await variant();
    const slab = path.join(dir, 'batched', (await fsp.readdir(path.join(dir, 'batched')))[0]);
    await fsp.truncate(slab, 70000);
    await expectRejected(dir, [TWEET, slab, 'beyond the end', '[64000, 80000)']);
  });

  test('a byte range whose length does not fit the shape', async () => {
    const dir = await variant((m) => (m.manifest[TWEET].byte_range = [64000, 79996]));
    await expectRejected(dir, [TWEET, '15996 bytes', '16000']);
  });

  test('a shape that does not match the config', async () => {
    const dir = await variant();
    const m = golden([
      { name: 'user', num_embeddings: 999, embedding_dim: 16 },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8 },
    ]);
    await expectRejected(dir, [USER, 'shape [1000, 16]', '[999, 16]'], m);
  });

  test('a dtype that does not match the config', async () => {
    const m = golden([
      { name: 'user', num_embeddings: 1000, embedding_dim: 16 },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8, data_type: 'fp16' },
    ]);
    await expectRejected(await variant(), [TWEET, 'dtype torch.float32', 'torch.float16'], m);
  });

  test('an unknown dtype', async () => {
    const dir = await variant((m) => (m.manifest[USER].dtype = 'torch.float8_e4m3'));
    await expectRejected(dir, [USER, 'unknown dtype "torch.float8_e4m3"']);
  });

  test('a table the snapshot does not have', async () => {
    const m = golden([
      { name: 'user', num_embeddings: 1000, embedding_dim: 16 },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8 },
      { name: 'item', num_embeddings: 10, embedding_dim: 4 },
    ]);
    await expectRejected(await variant(), ['0/model/ebc.embedding_bags.item.weight is missing', USER, TWEET], m);
  });

  test('a Tensor entry without "replicated" (torchsnapshot would fail on it too)', async () => {
    const dir = await variant((m) => delete m.manifest[USER].replicated);
    await expectRejected(dir, [USER, '"replicated"']);
  });

  test('a primitive without "readable"', async () => {
    const dir = await variant((m) => delete m.manifest['0/extra_state/step'].readable);
    await expectRejected(dir, ['0/extra_state/step', '"readable"']);
  });

  test('a location that escapes the snapshot directory', async () => {
    const dir = await variant((m) => (m.manifest[USER].location = '../../etc/passwd'));
    await expectRejected(dir, [USER, '../../etc/passwd', 'not a path inside the snapshot']);
  });

  test('entries of unknown type are dropped, as torchsnapshot drops them', async () => {
    const dir = await variant((m) => (m.manifest['0/model/something_new'] = { type: 'FancyTensor', data: 1 }));
    await expect(restoreSnapshot(golden(), dir, { keyPrefix: 'ebc.' })).resolves.toEqual({
      step: 1234,
      walltime: 56.5,
    });
  });

  test('optimizer state that does not fit the module, and a truncated state file', async () => {
    const saved = golden();
    saved.setOptimizerState!('user', 'momentum1', randomFloats(16000, 5).map(Math.abs));
    const dir = path.join(root, 'opt');
    await saveSnapshot(saved, dir, { step: 3 });
    // a module whose user table has another optimizer: adam keeps momentum2, adagrad does not
    const adam = golden([
      { name: 'user', num_embeddings: 1000, embedding_dim: 16, optimizer: { adam: { lr: 0.1 } } },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8 },
    ]);
    let before = moduleState(adam);
    await expectCheckpointError(restoreSnapshot(adam, dir), [
      path.join(dir, '.snapshot_metadata'),
      '0/optimizer/state/embedding_bags.user.weight/user.momentum2 is missing',
    ]);
    expect(moduleState(adam)).toEqual(before);
    // a module whose optimizer keeps no state for user: the snapshot's momentum1 has nowhere to go
    const plain = golden([
      { name: 'user', num_embeddings: 1000, embedding_dim: 16 },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8 },
    ]);
    before = moduleState(plain);
    await expectCheckpointError(restoreSnapshot(plain, dir), [
      '0/optimizer/state/embedding_bags.user.weight/user.momentum1',
      'keeps no such state',
    ]);
    expect(moduleState(plain)).toEqual(before);
    // the state file cut short
    const stateFile = path.join(dir, '0', 'optimizer', 'state', 'embedding_bags.user.weight', 'user.momentum1');
    await fsp.truncate(stateFile, 100);
    const m = golden();
    before = moduleState(m);
    await expectCheckpointError(restoreSnapshot(m, dir), [
      '0/optimizer/state/embedding_bags.user.weight/user.momentum1',
      stateFile,
      'truncated',
    ]);
    expect(moduleState(m)).toEqual(before);
  });
});
