/**
 * Reading what torchsnapshot writes: the golden samples from the real torchsnapshot (JSON metadata,
 * one batched slab, fp32 and fp16) and, from Python, the layouts they lack — ChunkedTensor pieces in
 * files and at odd offsets in a slab, ShardedTensor shards over two ranks (row- and column-wise),
 * torch_save pieces, bf16/fp64 — with YAML metadata as torchsnapshot's to_yaml dumps it.
 */
import { promises as fsp, readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, LargeEmbeddings } from '../../lib';
import { loadPretrainedTables, restoreSnapshot } from '../../lib/checkpoint';
import { EmbeddingBagConfig } from '../../lib/config/embedding';
import {
  describePython,
  expectCheckpointError,
  moduleState,
  python,
  sha256,
  SNAPSHOT_FIXTURES,
  storedBytes,
  tmpDir,
} from './helpers';

interface GoldenTable {
  logical_path: string;
  shape: number[];
  dtype: string;
  sha256_le: string;
  raw_file: string;
}
interface Golden {
  step: number;
  walltime: number;
  tables: Record<string, GoldenTable>;
}

const GOLDEN_DIRS = readdirSync(SNAPSHOT_FIXTURES).filter((d) => {
  try {
    return readdirSync(path.join(SNAPSHOT_FIXTURES, d)).includes('expected.json');
  } catch {
    return false;
  }
});

function tablesOf(g: Golden): object[] {
  return Object.entries(g.tables).map(([name, t]) => ({
    name,
    num_embeddings: t.shape[0],
    embedding_dim: t.shape[1],
    data_type: t.dtype === 'torch.float16' ? 'fp16' : 'fp32',
  }));
}

describe('golden snapshots written by torchsnapshot 0.1.0', () => {
  test('there are golden snapshots to read', () => {
    expect(GOLDEN_DIRS.length).toBeGreaterThanOrEqual(2);
  });

  test.each(GOLDEN_DIRS)('%s restores every table bit for bit, and step and walltime', async (name) => {
    const dir = path.join(SNAPSHOT_FIXTURES, name);
    const g = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Golden;
    const large = new LargeEmbeddings({ tables: tablesOf(g) }, { seed: 1 });
    const restored = await restoreSnapshot(large.ebc, dir, { keyPrefix: 'ebc.' });
    expect(restored).toEqual({ step: g.step, walltime: g.walltime });
    for (const [table, t] of Object.entries(g.tables)) {
      const bytes = storedBytes(large.ebc.getWeights(table), t.dtype);
      expect({ table, sha: sha256(bytes) }).toEqual({ table, sha: t.sha256_le });
      expect(Buffer.from(bytes).equals(readFileSync(path.join(dir, t.raw_file)))).toBe(true);
    }
  });

  test.each(GOLDEN_DIRS)(
    '%s serves as a pretrained source (emb_name selects ebc.embedding_bags.<name>.weight)',
    async (name) => {
      const dir = path.join(SNAPSHOT_FIXTURES, name);
      const g = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Golden;
      const ebc = new EmbeddingBagCollection({ tables: tablesOf(g), seed: 2 });
      const withPretrained = ebc.tables.map(
        (t) => new EmbeddingBagConfig({ ...t, pretrained: { emb_name: t.name, embedding_snapshot_uri: dir } }),
      );
      await loadPretrainedTables(ebc, withPretrained);
      for (const [table, t] of Object.entries(g.tables)) {
        expect(sha256(storedBytes(ebc.getWeights(table), t.dtype))).toBe(t.sha256_le);
      }
    },
  );
});

type Written = Record<
  string,
  {
    tensors: Record<string, { sha256_f32: string; shape: number[]; dtype: string }>;
    extra_state: { step: number; walltime: number };
  }
>;

describePython('snapshots in the other torchsnapshot layouts, written from Python', () => {
  let root: string;
  let written: Written;

  beforeAll(async () => {
    root = tmpDir('ts-layouts');
    written = await python<Written>('snapshots.py', ['write', root]);
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  function moduleFor(snapshot: string, names = ['user', 'tweet']): EmbeddingBagCollection {
    const tables = names.map((n) => {
      const e = written[snapshot].tensors[`model/ebc.embedding_bags.${n}.weight`];
      return {
        name: n,
        num_embeddings: e.shape[0],
        embedding_dim: e.shape[1],
        data_type: e.dtype === 'torch.float16' ? 'fp16' : 'fp32',
      };
    });
    return new EmbeddingBagCollection({ tables, seed: 4 });
  }

  function expectMatches(
    m: EmbeddingBagCollection,
    snapshot: string,
    pathOf = (t: string) => `model/ebc.embedding_bags.${t}.weight`,
  ): void {
    for (const t of m.tables) {
      expect({ table: t.name, sha: sha256(m.getWeights(t.name)) }).toEqual({
        table: t.name,
        sha: written[snapshot].tensors[pathOf(t.name)].sha256_f32,
      });
    }
  }

  test.each(['chunked_files', 'chunked_slab', 'sharded'])('%s restores exactly', async (snapshot) => {
    const m = moduleFor(snapshot);
    const restored = await restoreSnapshot(m, path.join(root, snapshot), { keyPrefix: 'ebc.' });
    expectMatches(m, snapshot);
    expect(restored).toEqual(written[snapshot].extra_state);
  });

  test('the metadata Python wrote is YAML, not JSON', () => {
    const meta = readFileSync(path.join(root, 'sharded', '.snapshot_metadata'), 'utf8');
    expect(meta.trimStart().startsWith('{')).toBe(false);
    expect(meta).toContain('world_size: 2');
  });

  test('a torch_save piece restores, and entries the module does not have are ignored', async () => {
    const m = moduleFor('mixed');
    await restoreSnapshot(m, path.join(root, 'mixed'), { keyPrefix: 'ebc.' });
    expectMatches(m, 'mixed');
  });

  test('bf16 and fp64 tensors convert to float32 tables', async () => {
    const m = new EmbeddingBagCollection({
      tables: [
        { name: 'b', num_embeddings: 10, embedding_dim: 4 },
        { name: 'w', num_embeddings: 10, embedding_dim: 4 },
      ],
      seed: 1,
    });
    const uri = path.join(root, 'mixed');
    await loadPretrainedTables(m, [
      new EmbeddingBagConfig({ ...m.tables[0], pretrained: { emb_name: 'bf', embedding_snapshot_uri: uri } }),
      new EmbeddingBagConfig({ ...m.tables[1], pretrained: { emb_name: 'wide', embedding_snapshot_uri: uri } }),
    ]);
    expect(sha256(m.getWeights('b'))).toBe(written.mixed.tensors['model/ebc.embedding_bags.bf.weight'].sha256_f32);
    expect(sha256(m.getWeights('w'))).toBe(written.mixed.tensors['model/ebc.embedding_bags.wide.weight'].sha256_f32);
  });

  test('an integer tensor cannot become weights', async () => {
    const m = new EmbeddingBagCollection({ tables: [{ name: 'x', num_embeddings: 10, embedding_dim: 4 }], seed: 1 });
    const before = moduleState(m);
    const uri = path.join(root, 'mixed');
    await expectCheckpointError(
      loadPretrainedTables(m, [
        new EmbeddingBagConfig({ ...m.tables[0], pretrained: { emb_name: 'ids', embedding_snapshot_uri: uri } }),
      ]),
      ['0/model/ebc.embedding_bags.ids.weight', 'torch.int64'],
    );
    expect(moduleState(m)).toEqual(before);
  });
});
