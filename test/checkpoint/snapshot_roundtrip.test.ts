/**
 * saveSnapshot → restoreSnapshot of weights, optimizer state and step/walltime, and what
 * torchsnapshot's reader makes of Node's snapshots: a Python re-implementation of its reader checks
 * every entry, reads the bytes and loads the model state into an nn.Module.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, LargeEmbeddings } from '../../lib';
import { Checkpointable, restoreSnapshot, saveSnapshot } from '../../lib/checkpoint';
import { describePython, expectCheckpointError, moduleState, python, randomFloats, sha256, tmpDir } from './helpers';

const TABLES = [
  { name: 'user', num_embeddings: 1000, embedding_dim: 16, optimizer: { adam: { lr: 0.01 } } },
  {
    name: 'tweet',
    num_embeddings: 500,
    embedding_dim: 8,
    data_type: 'fp16',
    optimizer: { rowwise_adagrad: { lr: 0.1 } },
  },
  { name: 'item', num_embeddings: 300, embedding_dim: 4 },
];

function randomize(m: EmbeddingBagCollection, seed: number): void {
  m.tables.forEach((t, i) => {
    m.setWeights(t.name, randomFloats(t.num_embeddings * t.embedding_dim, seed + i));
    for (const [name, cur] of Object.entries(m.optimizerState!(t.name))) {
      m.setOptimizerState!(t.name, name, randomFloats(cur.length, seed * 7 + i + name.length).map(Math.abs));
    }
  });
}

function fingerprint(m: EmbeddingBagCollection): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of m.tables) {
    out[`${t.name}.weight`] = sha256(m.getWeights(t.name));
    for (const [name, v] of Object.entries(m.optimizerState!(t.name))) out[`${t.name}.${name}`] = sha256(v);
  }
  return out;
}

type Check = {
  version: string;
  world_size: number;
  app_state: string[];
  model_keys: string[];
  tensors: Record<string, { dtype: string; shape: number[]; sha256_le: string; sha256_f32: string }>;
  optimizer: { state: Record<string, string[]>; param_groups: { params: string[] }[] };
  extra_state: { step: number; walltime: number };
};

describe('saveSnapshot / restoreSnapshot', () => {
  let root: string;
  beforeAll(async () => {
    root = tmpDir('roundtrip');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  test('weights, optimizer state, step and walltime round-trip exactly', async () => {
    const a = new EmbeddingBagCollection({ tables: TABLES, seed: 1 });
    randomize(a, 10);
    const dir = path.join(root, 'rt');
    await saveSnapshot(a, dir, { step: 42, walltime: 3.5 });
    const bEbc = new EmbeddingBagCollection({ tables: TABLES, seed: 2 });
    const b = bEbc;
    expect(fingerprint(b)).not.toEqual(fingerprint(a));
    expect(await restoreSnapshot(b, dir)).toEqual({ step: 42, walltime: 3.5 });
    expect(fingerprint(b)).toEqual(fingerprint(a));
    expect(bEbc.step).toBe(42);
  });

  test('by default the step is the module step and walltime 0', async () => {
    const m = new EmbeddingBagCollection({ tables: TABLES, seed: 3 });
    const dir = path.join(root, 'defaults');
    await saveSnapshot(m, dir);
    expect(await restoreSnapshot(new EmbeddingBagCollection({ tables: TABLES, seed: 4 }), dir)).toEqual({
      step: m.step,
      walltime: 0,
    });
  });

  test('saving over a snapshot replaces it whole and leaves nothing beside it', async () => {
    const m = new EmbeddingBagCollection({ tables: TABLES, seed: 5 });
    const dir = path.join(root, 'over');
    randomize(m, 20);
    await saveSnapshot(m, dir, { step: 1 });
    randomize(m, 30);
    await saveSnapshot(m, dir, { step: 2 });
    const b = new EmbeddingBagCollection({ tables: TABLES, seed: 6 });
    expect((await restoreSnapshot(b, dir)).step).toBe(2);
    expect(fingerprint(b)).toEqual(fingerprint(m));
    expect((await fsp.readdir(root)).filter((n) => n.startsWith('over.'))).toEqual([]);
  });

  test('a save that fails midway leaves the previous snapshot in place and no temporary directory', async () => {
    const ebc = new EmbeddingBagCollection({ tables: TABLES, seed: 7 });
    const dir = path.join(root, 'failing');
    await saveSnapshot(ebc, dir, { step: 9 });
    const good = moduleState(ebc);
    // Fails after the first table's files are written.
    const failing: Checkpointable = {
      tables: ebc.tables,
      step: 10,
      inCallOrder: (work) => ebc.inCallOrder(work),
      optimizerStateLayout: (t) => {
        if (t === 'tweet') throw new Error('device lost while copying tweet');
        return ebc.optimizerStateLayout(t);
      },
    };
    await expect(saveSnapshot(failing, dir, { step: 10 })).rejects.toThrow('device lost');
    expect((await fsp.readdir(root)).filter((n) => n.startsWith('failing.'))).toEqual([]);
    const back = new EmbeddingBagCollection({ tables: TABLES, seed: 8 });
    expect((await restoreSnapshot(back, dir)).step).toBe(9);
    expect((moduleState(back) as { weights: unknown }).weights).toEqual((good as { weights: unknown }).weights);
  });

  test('a directory that is not a snapshot is never replaced', async () => {
    const dir = path.join(root, 'precious');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'notes.txt'), 'keep me');
    await expectCheckpointError(saveSnapshot(new EmbeddingBagCollection({ tables: TABLES, seed: 1 }), dir), [
      dir,
      'not a snapshot',
    ]);
    expect(await fsp.readFile(path.join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  test('bad extra values are rejected before anything is written', async () => {
    const m = new EmbeddingBagCollection({ tables: TABLES, seed: 1 });
    await expect(saveSnapshot(m, path.join(root, 'bad-extra'), { step: -1 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(saveSnapshot(m, path.join(root, 'bad-extra'), { walltime: NaN })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(fsp.stat(path.join(root, 'bad-extra'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describePython("Node's snapshots through torchsnapshot's reader rules (Python)", () => {
  let root: string;
  beforeAll(async () => {
    root = tmpDir('pycheck');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  async function check(m: EmbeddingBagCollection, keyPrefix: string, layout: 'ebc' | 'large'): Promise<void> {
    const dir = path.join(root, layout);
    await saveSnapshot(m, dir, { step: 1234, walltime: 56.5 }, { keyPrefix });
    const py = await python<Check>('snapshots.py', ['check', dir, layout]);
    const key = (t: string): string => `${keyPrefix}embedding_bags.${t}.weight`;
    expect(py).toMatchObject({ version: '0.1.0', world_size: 1, app_state: ['extra_state', 'model', 'optimizer'] });
    expect(py.model_keys).toEqual(m.tables.map((t) => key(t.name)));
    expect(py.extra_state).toEqual({ step: 1234, walltime: 56.5 });
    for (const t of m.tables) {
      const w = py.tensors[`model/${key(t.name)}`];
      expect(w).toMatchObject({
        shape: [t.num_embeddings, t.embedding_dim],
        dtype: t.data_type === 'fp16' ? 'torch.float16' : 'torch.float32',
      });
      // Python widens what it read; equal to Node's widened weights iff the stored bits are right.
      expect(w.sha256_f32).toBe(sha256(m.getWeights(t.name)));
      const state = m.optimizerState!(t.name);
      expect(py.optimizer.state[key(t.name)]).toEqual(
        Object.keys(state)
          .map((n) => `${t.name}.${n}`)
          .sort(),
      );
      for (const [name, v] of Object.entries(state)) {
        const s = py.tensors[`optimizer/state/${key(t.name)}/${t.name}.${name}`];
        expect(s).toMatchObject({
          dtype: 'torch.float32',
          shape: v.length === t.num_embeddings ? [t.num_embeddings] : [t.num_embeddings, t.embedding_dim],
        });
        expect(s.sha256_le).toBe(sha256(v));
      }
    }
    expect(py.optimizer.param_groups).toEqual([{ params: m.tables.map((t) => key(t.name)).sort() }]);
  }

  test('an EBC snapshot: every entry valid, bytes exact, model state loads into nn.Module strictly', async () => {
    const m = new EmbeddingBagCollection({ tables: TABLES, seed: 11 });
    randomize(m, 40);
    await check(m, '', 'ebc');
  });

  test('a LargeEmbeddings snapshot uses ebc.embedding_bags.<table>.weight', async () => {
    const large = new LargeEmbeddings({ tables: TABLES }, { seed: 12 });
    const m = large.ebc;
    randomize(m, 50);
    await check(m, 'ebc.', 'large');
  });
});
