import { readFileSync, rmSync, writeFileSync } from 'fs';
import * as path from 'path';
import { loadConfig } from '../../lib';
import { TwhinConfig } from '../../examples/twhin/config';
import { loadEdges } from '../../examples/twhin/data';
import { tinyGraph, tinyRawConfig, tmpDir } from './helpers';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'twhin_local.yaml');

describe('TwhinConfig', () => {
  it("loads the-algorithm-ml's projects/twhin/config/local.yaml as is", () => {
    const c = new TwhinConfig(loadConfig(FIXTURE));
    expect(c.model.embeddings.tables.map((t) => [t.name, t.num_embeddings, t.embedding_dim])).toEqual([
      ['user', 424241, 4],
      ['tweet', 72543, 4],
    ]);
    expect(c.model.relations.map((r) => r.name)).toEqual(['fav', 'reply', 'retweet', 'magic_recs']);
    expect(c.model.translation_optimizer.sgd?.lr).toBe(0.05);
    expect(c.training).toMatchObject({
      save_dir: '/tmp/model',
      num_train_steps: 100000,
      train_log_every_n: 10,
      num_epochs: 5,
    });
    expect(c.train_data).toMatchObject({ per_replica_batch_size: 500, in_batch_negatives: 10, limit: 9990 });
    expect(c.validation_data).toMatchObject({ limit: 10, offset: 9990 });
    expect(c.runtime.enable_amp).toBe(false);
  });

  it('reads edges when the fixture data_root points at local parquet files', async () => {
    const dir = tmpDir('fixture');
    const data = await tinyGraph(dir);
    const text = readFileSync(FIXTURE, 'utf8').replace(/gs:\/\/[^"]*/g, `${data.train}/*`);
    const file = path.join(dir, 'local.yaml');
    writeFileSync(file, text);
    const c = new TwhinConfig(loadConfig(file));
    const edges = await loadEdges(c.train_data.data_root, c.model);
    expect(edges.lhs.length).toBe(6000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects unknown keys with a suggestion, listing every problem at once', () => {
    const raw = tinyRawConfig({ train: '/d', validation: '/d' }, '/tmp/x');
    raw.training.num_train_step = 5;
    raw.model.relations[0].lhss = 'user';
    expect(() => new TwhinConfig(raw)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG' }));
    expect(() => new TwhinConfig(raw)).toThrow(/training\.num_train_step: unknown field.*num_train_steps/);
    expect(() => new TwhinConfig(raw)).toThrow(/model\.relations\[0\]\.lhss: unknown field/);
  });

  it('rejects a relation that names a missing table, and tables of different dims', () => {
    const raw = tinyRawConfig({ train: '/d', validation: '/d' }, '/tmp/x');
    raw.model.relations[1].rhs = 'tweets';
    raw.model.embeddings.tables[1].embedding_dim = 4;
    expect(() => new TwhinConfig(raw)).toThrow(
      /model\.relations\[1\]\.rhs: no table named "tweets".*did you mean "tweet"/,
    );
    expect(() => new TwhinConfig(raw)).toThrow(/one embedding_dim/);
  });

  it('reports nested table errors under their full path', () => {
    const raw = tinyRawConfig({ train: '/d', validation: '/d' }, '/tmp/x');
    raw.model.embeddings.tables[0].num_embeddings = -1;
    expect(() => new TwhinConfig(raw)).toThrow(
      /model\.embeddings\.tables\[0\]\.num_embeddings: must be a positive integer/,
    );
  });
});
