/**
 * Hostile files under a memory-mapped restore: wrong sizes, offsets past the end, dtype mismatches,
 * unaligned offsets, and a file truncated under a live mapping all give ERR_CHECKPOINT, never a
 * crash, and a failed restore leaves the collection as it was.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, LargeEmbeddings, Mode } from '../../lib';
import { expectRejects } from '../helpers/errors';
import { tmpDir } from '../helpers/tmp';
import { lastJson, sameBits } from '../helpers/reliability';
import { SNAPSHOT_FIXTURES } from '../checkpoint/helpers';
import { makeEbc, runServingChild } from './helpers';

async function savedSnapshot(tag: string, seed = 5): Promise<string> {
  const dir = path.join(tmpDir(tag), 'snap');
  const m = makeEbc(seed);
  await m.saveSnapshot(dir);
  m.dispose();
  return dir;
}

const userFile = (dir: string): string => path.join(dir, '0', 'model', 'embedding_bags.user.weight');

/** The fixture snapshot with its manifest edited by `edit`. */
function editedFixture(tag: string, edit: (manifest: Record<string, Record<string, unknown>>, slab: number) => void) {
  const dir = path.join(tmpDir(tag), 'snap');
  fs.cpSync(path.join(SNAPSHOT_FIXTURES, 'ebc_snapshot'), dir, { recursive: true });
  const slabDir = path.join(dir, 'batched');
  const slabSize = fs.statSync(path.join(slabDir, fs.readdirSync(slabDir)[0])).size;
  const metaFile = path.join(dir, '.snapshot_metadata');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  edit(meta.manifest, slabSize);
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  return dir;
}

function fixtureModel(): LargeEmbeddings {
  return new LargeEmbeddings({
    tables: [
      { name: 'user', num_embeddings: 1000, embedding_dim: 16, data_type: 'fp32' },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8, data_type: 'fp32' },
    ],
  });
}

/** The restore failed and changed nothing: same weights, still in memory, still TRAIN. */
async function expectUnchanged(
  m: EmbeddingBagCollection,
  restore: () => Promise<unknown>,
  ...mentions: (string | RegExp)[]
) {
  const before = m.getWeights('user');
  await expectRejects(restore(), 'ERR_CHECKPOINT', ...mentions);
  expect(sameBits(m.getWeights('user'), before)).toBe(true);
  expect(Object.values(m.tableStorage())).toEqual(m.tables.map(() => 'memory'));
  expect(m.mode).toBe(Mode.TRAIN);
}

describe('hostile files under mmap', () => {
  test('a tensor file of the wrong size', async () => {
    const dir = await savedSnapshot('hostile-size');
    fs.appendFileSync(userFile(dir), Buffer.alloc(8));
    const m = makeEbc(1);
    await expectUnchanged(m, () => m.restoreSnapshot(dir, { mmap: true }), 'holds', 'bytes');
    fs.truncateSync(userFile(dir), 100);
    await expectUnchanged(m, () => m.restoreSnapshot(dir, { mmap: true }), 'truncated');
    m.dispose();
  });

  test('a byte range past the end of its slab', async () => {
    const dir = editedFixture('hostile-range', (manifest, slab) => {
      const e = manifest['0/model/ebc.embedding_bags.tweet.weight'];
      const [a, b] = e.byte_range as number[];
      e.byte_range = [slab - 64 + 4, slab - 64 + 4 + (b - a)];
    });
    const m = fixtureModel();
    await expectUnchanged(m.ebc, () => m.restoreSnapshot(dir, { mmap: true }), 'past the end');
    m.ebc.dispose();
  });

  test('a stored dtype that differs from the table', async () => {
    const dir = editedFixture('hostile-dtype', (manifest) => {
      manifest['0/model/ebc.embedding_bags.user.weight'].dtype = 'torch.float16';
    });
    const m = fixtureModel();
    await expectUnchanged(m.ebc, () => m.restoreSnapshot(dir, { mmap: true }), 'dtype');
    m.ebc.dispose();
  });

  test('the core re-checks what it is asked to map: dtype, alignment, bounds, file type', async () => {
    const dir = await savedSnapshot('hostile-core');
    const file = userFile(dir);
    const m = makeEbc(1);
    const map = (mapped: { file: string; offset: number; dtype: 'float32' | 'float16' }) =>
      m.inCallOrder((s) => s.importState({ user: { mapped } }));
    await expectUnchanged(m, () => map({ file, offset: 0, dtype: 'float16' }), 'dtype', 'user');
    await expectUnchanged(m, () => map({ file, offset: 2, dtype: 'float32' }), 'not a multiple of 4');
    await expectUnchanged(m, () => map({ file, offset: 64, dtype: 'float32' }), 'past the end');
    await expectUnchanged(m, () => map({ file: dir, offset: 0, dtype: 'float32' }), 'not a regular file');
    await expectUnchanged(m, () => map({ file: path.join(dir, 'nope'), offset: 0, dtype: 'float32' }), 'nope');
    m.dispose();
  });

  test('a file truncated under a live mapping: ERR_CHECKPOINT, never SIGBUS; a new restore recovers', async () => {
    const dir = await savedSnapshot('hostile-truncate', 5);
    const fresh = await savedSnapshot('hostile-truncate-fresh', 6);
    const r = await runServingChild('truncate_child.ts', [dir, fresh], { timeoutMs: 60000 });
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const out = lastJson<Record<string, string>>(r);
    expect(out.before).toBe('ok');
    expect(out.lost).toMatch(/^ERR_CHECKPOINT: .*embedding_bags\.user\.weight shrank while it was memory-mapped/);
    expect(out.again).toMatch(/^ERR_CHECKPOINT: /); // the damaged mapping stays refused
    expect(out.read).toBe('ERR_CHECKPOINT');
    expect(out.restored).toBe('ok');
  });
});
