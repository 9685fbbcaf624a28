import { rmSync, writeFileSync } from 'fs';
import { join } from 'path';
import { DataType } from '../../lib/enums';
import { TorchrecError } from '../../lib/errors';
import { LargeEmbeddingsConfig, OptimizerConfig, computeLearningRate, loadConfig } from '../../lib/config';
import { configError } from '../helpers/errors';
import { tmpDir } from '../helpers/tmp';

// projects/twhin/config/local.yaml from the-algorithm-ml, unchanged.
const TWHIN = join(__dirname, '..', 'fixtures', 'twhin_local.yaml');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

let dir: string;
beforeAll(() => {
  dir = tmpDir('config');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig on the-algorithm-ml twhin config', () => {
  it('feeds model.embeddings to LargeEmbeddingsConfig unchanged', () => {
    const cfg = loadConfig(TWHIN) as Loose;
    const emb = new LargeEmbeddingsConfig(cfg.model.embeddings);
    const [user, tweet] = emb.tables;
    expect([user.name, user.num_embeddings, user.embedding_dim, user.data_type]).toEqual([
      'user',
      424241,
      4,
      DataType.FP32,
    ]);
    expect(user.optimizer?.sgd).toEqual({ lr: 0.01, momentum: 0 });
    expect(user.optimizer?.learning_rate?.constant).toBe(0.01);
    expect(computeLearningRate(user.optimizer!.learning_rate!, 1234)).toBe(0.01);
    expect([tweet.name, tweet.num_embeddings, tweet.embedding_dim]).toEqual(['tweet', 72543, 4]);
    expect(tweet.optimizer?.sgd?.lr).toBe(0.005);
  });

  it('also reads the translation optimizer block', () => {
    const cfg = loadConfig(TWHIN) as Loose;
    expect(new OptimizerConfig(cfg.model.translation_optimizer).sgd?.lr).toBe(0.05);
    expect(cfg.training.num_train_steps).toBe(100000);
  });
});

describe('loadConfig parsing', () => {
  it('reads YAML with PyYAML 1.1 scalars', () => {
    const path = file('scalars.yaml', 'n: 424_241\nb: yes\noff_flag: off\ny: 1\nf: 1.5e-3\ns: "424_241"\n');
    expect(loadConfig(path)).toEqual({ n: 424241, b: true, off_flag: false, y: 1, f: 0.0015, s: '424_241' });
  });

  it('reads .json with JSON.parse', () => {
    const path = file(
      'cfg.json',
      '{"tables": [{"name": "t", "num_embeddings": 5, "embedding_dim": 2, "data_type": "FP16"}]}',
    );
    const emb = new LargeEmbeddingsConfig(loadConfig(path) as Loose);
    expect(emb.tables[0].data_type).toBe(DataType.FP16);
  });

  it('reads any other extension as YAML', () => {
    expect(loadConfig(file('cfg.conf', 'a: 1\n'))).toEqual({ a: 1 });
  });
});

describe('loadConfig environment expansion', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of ['TRN_TEST_DIM', 'TRN_TEST_NAME', 'LOGNAME']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  it('expands variables inside parsed values, reading unquoted ones again as scalars', () => {
    process.env.TRN_TEST_DIM = '8';
    process.env.TRN_TEST_NAME = 'item';
    const path = file(
      'env.yaml',
      [
        'name: $TRN_TEST_NAME',
        'embedding_dim: ${TRN_TEST_DIM}', // becomes the integer 8, not the string "8"
        'unknown: ${TRN_TEST_SURELY_UNSET}',
        'fallback: ${TRN_TEST_SURELY_UNSET:-16}',
        'price: "$$5"',
      ].join('\n'),
    );
    expect(loadConfig(path)).toEqual({
      name: 'item',
      embedding_dim: 8,
      unknown: '${TRN_TEST_SURELY_UNSET}',
      fallback: 16,
      price: '$5',
    });
  });

  it('expands in JSON files too', () => {
    process.env.TRN_TEST_DIM = '3';
    expect(loadConfig(file('env.json', '{"d": ${TRN_TEST_DIM}}'))).toEqual({ d: 3 });
  });

  it('gives USER the getpass.getuser value', () => {
    process.env.LOGNAME = 'trn_test_user';
    expect(loadConfig(file('user.yaml', 'save_dir: /tmp/${USER}/model\n'))).toEqual({
      save_dir: '/tmp/trn_test_user/model',
    });
  });
});

describe('loadConfig failures', () => {
  it('names a missing file', () => {
    const path = join(dir, 'missing.yaml');
    const err = configError(() => loadConfig(path));
    expect(err.message).toContain(path);
    expect(err.message).toContain('cannot read');
  });

  it('names a directory it cannot read', () => {
    expect(configError(() => loadConfig(dir)).message).toContain(dir);
  });

  it('gives the line of broken YAML', () => {
    const path = file('broken.yaml', 'a: 1\nb: [1, 2\nc: 3\n');
    const err = configError(() => loadConfig(path));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/invalid YAML: .*line \d+, column \d+/);
  });

  it('rejects duplicate YAML keys instead of silently keeping one', () => {
    expect(configError(() => loadConfig(file('dup.yaml', 'a: 1\na: 2\n'))).message).toContain('line 2');
  });

  it('gives the line of broken JSON', () => {
    const path = file('broken.json', '{\n  "a": 1,\n}\n');
    expect(configError(() => loadConfig(path)).message).toMatch(/invalid JSON: .*line 3, column 1/);
  });

  it.each([
    ['empty.yaml', '', 'got null'],
    ['list.yaml', '- 1\n- 2\n', 'got an array'],
    ['scalar.json', '42', 'got 42'],
  ])('rejects %s whose top level is not a mapping', (name, text, fragment) => {
    expect(configError(() => loadConfig(file(name, text))).message).toContain(
      `top level must be a mapping, ${fragment}`,
    );
  });

  it.each([undefined, '', 42])('rejects path %p with ERR_INVALID_ARGUMENT', (path) => {
    expect(() => loadConfig(path as string)).toThrow(TorchrecError);
    try {
      loadConfig(path as string);
    } catch (e) {
      expect((e as TorchrecError).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});
