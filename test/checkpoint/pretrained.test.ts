/**
 * `pretrained` tables: the snapshot tensor is chosen by DESIGN.md's rule (path ending in
 * embedding_bags.<emb_name>.weight wins, else the one path containing emb_name, several is an error
 * listing them), converted to the table dtype, and a shape mismatch is an error. All-or-nothing.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { EmbeddingBagCollection } from '../../lib';
import { loadPretrainedTables } from '../../lib/checkpoint';
import { EmbeddingBagConfig } from '../../lib/config/embedding';
import { describePython, expectCheckpointError, moduleState, python, sha256, tmpDir } from './helpers';

type Written = Record<string, { tensors: Record<string, { sha256_f32: string; shape: number[] }> }>;

describePython('loadPretrainedTables', () => {
  let root: string;
  let src: string;
  let written: Written;

  beforeAll(async () => {
    root = tmpDir('pretrained');
    written = await python<Written>('snapshots.py', ['write', root]);
    src = path.join(root, 'pretrained_src');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  const sha = (p: string): string => written.pretrained_src.tensors[p].sha256_f32;

  /** Tables named by `spec` (name → [rows, emb_name]), all 4 wide, and their configs with `pretrained`. */
  function setup(
    spec: Record<string, [number, string]>,
    uri = src,
  ): { m: EmbeddingBagCollection; configs: EmbeddingBagConfig[] } {
    const tables = Object.entries(spec).map(([name, [rows]]) => ({ name, num_embeddings: rows, embedding_dim: 4 }));
    const m = new EmbeddingBagCollection({ tables, seed: 8 });
    const configs = m.tables.map(
      (t) => new EmbeddingBagConfig({ ...t, pretrained: { emb_name: spec[t.name][1], embedding_snapshot_uri: uri } }),
    );
    return { m, configs };
  }

  test('the path ending in embedding_bags.<emb_name>.weight wins over other paths that mention the name', async () => {
    // optimizer/state/ebc.embedding_bags.user.weight/user.momentum1 also contains "user"
    const { m, configs } = setup({ u: [50, 'user'] });
    await loadPretrainedTables(m, configs);
    expect(sha256(m.getWeights('u'))).toBe(sha('model/ebc.embedding_bags.user.weight'));
  });

  test('otherwise the one path containing emb_name is taken, converted from fp16', async () => {
    const { m, configs } = setup({ a: [20, 'author'] });
    await loadPretrainedTables(m, configs);
    expect(sha256(m.getWeights('a'))).toBe(sha('model/author_table_weights'));
  });

  test('several matching paths is an error listing them; no table is loaded, not even the good ones', async () => {
    const { m, configs } = setup({ u: [50, 'user'], i: [30, 'item'] });
    const before = moduleState(m);
    await expectCheckpointError(loadPretrainedTables(m, configs), [
      'table i',
      src,
      '0/model/ebc.embedding_bags.item.weight',
      '0/model/other.embedding_bags.item.weight',
      'ambiguous',
    ]);
    expect(moduleState(m)).toEqual(before);
    const many = setup({ x: [50, 'embedding_bags'] });
    await expectCheckpointError(loadPretrainedTables(many.m, many.configs), [
      'ambiguous',
      '0/model/ebc.embedding_bags.user.weight',
      '0/model/ebc.embedding_bags.tweet.weight',
    ]);
  });

  test('a shape mismatch is an error naming both shapes', async () => {
    const { m, configs } = setup({ u: [49, 'user'] });
    const before = moduleState(m);
    await expectCheckpointError(loadPretrainedTables(m, configs), [
      'table u',
      '0/model/ebc.embedding_bags.user.weight',
      '[50, 4]',
      '[49, 4]',
    ]);
    expect(moduleState(m)).toEqual(before);
  });

  test('no matching tensor lists what the snapshot has', async () => {
    const { m, configs } = setup({ z: [5, 'zebra'] });
    await expectCheckpointError(loadPretrainedTables(m, configs), [
      'table z',
      'zebra',
      '0/model/ebc.embedding_bags.user.weight',
    ]);
  });

  test('file:// URIs work; remote stores and missing snapshots are clear errors', async () => {
    const ok = setup({ u: [50, 'user'] }, pathToFileURL(src).href);
    await loadPretrainedTables(ok.m, ok.configs);
    expect(sha256(ok.m.getWeights('u'))).toBe(sha('model/ebc.embedding_bags.user.weight'));
    const remote = setup({ u: [50, 'user'] }, 'gs://bucket/snapshot');
    await expectCheckpointError(loadPretrainedTables(remote.m, remote.configs), [
      'gs://bucket/snapshot',
      'only local paths',
    ]);
    const missing = setup({ u: [50, 'user'] }, path.join(root, 'nothing-here'));
    await expectCheckpointError(loadPretrainedTables(missing.m, missing.configs), [path.join(root, 'nothing-here')]);
  });

  test('tables without pretrained are left alone', async () => {
    const m = new EmbeddingBagCollection({ tables: [{ name: 'plain', num_embeddings: 5, embedding_dim: 4 }], seed: 1 });
    const before = moduleState(m);
    await loadPretrainedTables(m);
    expect(moduleState(m)).toEqual(before);
  });
});
