/**
 * torch.save state dicts both ways with real PyTorch: files Python wrote load into Node modules
 * (prefixes, suffix matching, fp16/bf16/fp64, strided views, shared storages), files Node wrote load
 * in Python bit for bit, and every bad file is an ERR_CHECKPOINT that leaves the module as it was.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, LargeEmbeddings } from '../../lib';
import { loadStateDict, saveStateDict } from '../../lib/checkpoint';
import type { Checkpointable } from '../../lib/checkpoint';
import { describePython, expectCheckpointError, moduleState, python, randomFloats, sha256, tmpDir } from './helpers';

type Summary = Record<string, Record<string, { sha256_f32: string; shape: number[]; dtype: string }>>;

const TABLES = [
  { name: 'user', num_embeddings: 12, embedding_dim: 4 },
  { name: 'tweet', num_embeddings: 7, embedding_dim: 3, data_type: 'fp16' },
];

function ebc(tables: object[] = TABLES, seed = 99): EmbeddingBagCollection {
  return new EmbeddingBagCollection({ tables, seed });
}

describePython('state dicts written by Python torch.save', () => {
  let dir: string;
  let expected: Summary;
  const file = (name: string): string => path.join(dir, name);

  beforeAll(async () => {
    dir = tmpDir('sd');
    expected = await python<Summary>('state_dicts.py', ['write', dir]);
  });

  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  function expectTables(m: EmbeddingBagCollection, fileName: string, keyOf: (t: string) => string): void {
    for (const t of m.tables) {
      expect({ table: t.name, sha: sha256(m.getWeights(t.name)) }).toEqual({
        table: t.name,
        sha: expected[fileName][keyOf(t.name)].sha256_f32,
      });
    }
  }

  test('a prefixed model state dict (model.embeddings.ebc.…) loads into an EBC with prefix, fp32 and fp16', async () => {
    const m = ebc();
    await loadStateDict(m, file('model.pt'), { prefix: 'model.embeddings.ebc.' });
    expectTables(m, 'model.pt', (t) => `model.embeddings.ebc.embedding_bags.${t}.weight`);
  });

  test('the same file loads into LargeEmbeddings (ebc. keys) with prefix model.embeddings.', async () => {
    const large = new LargeEmbeddings({ tables: TABLES }, { seed: 5 });
    await loadStateDict(large.ebc, file('model.pt'), { prefix: 'model.embeddings.' }, { keyPrefix: 'ebc.' });
    expectTables(large.ebc, 'model.pt', (t) => `model.embeddings.ebc.embedding_bags.${t}.weight`);
  });

  test('without a prefix, tables match by their embedding_bags.<table>.weight suffix', async () => {
    const m = ebc();
    await loadStateDict(m, file('model.pt'));
    expectTables(m, 'model.pt', (t) => `model.embeddings.ebc.embedding_bags.${t}.weight`);
    const m2 = ebc();
    await loadStateDict(m2, file('ebc.pt'));
    expectTables(m2, 'ebc.pt', (t) => `embedding_bags.${t}.weight`);
  });

  test('bf16 and fp64 weights convert to the table dtype as torch .float() does', async () => {
    const m = ebc([
      { name: 'user', num_embeddings: 12, embedding_dim: 4 },
      { name: 'tweet', num_embeddings: 7, embedding_dim: 3 },
    ]);
    await loadStateDict(m, file('wide.pt'), { prefix: 'ebc.' });
    expect(expected['wide.pt']['ebc.embedding_bags.user.weight'].dtype).toBe('torch.float64');
    expect(expected['wide.pt']['ebc.embedding_bags.tweet.weight'].dtype).toBe('torch.bfloat16');
    expectTables(m, 'wide.pt', (t) => `ebc.embedding_bags.${t}.weight`);
  });

  test('strided views (a transpose, a slice at a storage offset) and shared storages load correctly', async () => {
    const m = ebc();
    await loadStateDict(m, file('views.pt'));
    expectTables(m, 'views.pt', (t) => `embedding_bags.${t}.weight`);
    const m2 = ebc([
      { name: 'user', num_embeddings: 12, embedding_dim: 4 },
      { name: 'tweet', num_embeddings: 7, embedding_dim: 3 },
    ]);
    await loadStateDict(m2, file('shared.pt'));
    expectTables(m2, 'shared.pt', (t) => `embedding_bags.${t}.weight`);
  });

  test('strict: a missing table is an error naming the key and the file; the module is unchanged', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('user_only.pt')), [
      file('user_only.pt'),
      'embedding_bags.tweet.weight',
      'missing',
    ]);
    expect(moduleState(m)).toEqual(before);
  });

  test('strict: false loads the tables that are there and leaves the others', async () => {
    const m = ebc();
    const tweetBefore = sha256(m.getWeights('tweet'));
    await loadStateDict(m, file('user_only.pt'), { strict: false });
    expect(sha256(m.getWeights('user'))).toBe(expected['user_only.pt']['embedding_bags.user.weight'].sha256_f32);
    expect(sha256(m.getWeights('tweet'))).toBe(tweetBefore);
  });

  test('strict with a prefix: keys under the prefix that are no table are an error', async () => {
    const m = ebc([TABLES[0]]);
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('model.pt'), { prefix: 'model.embeddings.ebc.' }), [
      'unexpected keys',
      'model.embeddings.ebc.embedding_bags.tweet.weight',
    ]);
    expect(moduleState(m)).toEqual(before);
    await loadStateDict(m, file('model.pt'), { prefix: 'model.embeddings.ebc.', strict: false });
    expect(sha256(m.getWeights('user'))).toBe(
      expected['model.pt']['model.embeddings.ebc.embedding_bags.user.weight'].sha256_f32,
    );
  });

  test('a shape that does not match the table names key, both shapes and file; nothing is applied', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('bad_shape.pt')), [
      file('bad_shape.pt'),
      'embedding_bags.user.weight',
      '[11, 4]',
      '[12, 4]',
    ]);
    expect(moduleState(m)).toEqual(before);
  });

  test('integer weights are refused by dtype', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('int_weights.pt')), ['embedding_bags.user.weight', 'int64']);
    expect(moduleState(m)).toEqual(before);
  });

  test('an ambiguous suffix lists the candidates; a prefix resolves it', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('ambiguous.pt')), [
      'a.embedding_bags.user.weight',
      'b.embedding_bags.user.weight',
    ]);
    expect(moduleState(m)).toEqual(before);
    await loadStateDict(m, file('ambiguous.pt'), { prefix: 'a.' });
    expect(sha256(m.getWeights('user'))).toBe(expected['ambiguous.pt']['a.embedding_bags.user.weight'].sha256_f32);
  });

  test('a pickle with a global outside the allow-list is refused, not executed', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('set.pt')), [file('set.pt'), /set/, 'refusing']);
    expect(moduleState(m)).toEqual(before);
  });

  test('a pickle that would run a command is refused without running it', async () => {
    await expectCheckpointError(loadStateDict(ebc(), file('evil.pt')), [
      file('evil.pt'),
      /posix\.system|os\.system/,
      'refusing',
    ]);
    await expect(fsp.stat(file('pwned'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('the legacy (non-zip) torch.save format is named as such', async () => {
    await expectCheckpointError(loadStateDict(ebc(), file('legacy.pt')), [file('legacy.pt'), 'legacy']);
  });

  test('a missing file and a truncated file are errors naming the file', async () => {
    const m = ebc();
    const before = moduleState(m);
    await expectCheckpointError(loadStateDict(m, file('nope.pt')), [file('nope.pt'), 'does not exist']);
    const whole = await fsp.readFile(file('ebc.pt'));
    for (const cut of [Math.floor(whole.length / 2), whole.length - 30, 3]) {
      await fsp.writeFile(file('truncated.pt'), whole.subarray(0, cut));
      await expectCheckpointError(loadStateDict(m, file('truncated.pt')), [file('truncated.pt')]);
    }
    expect(moduleState(m)).toEqual(before);
  });
});

type PyRead = {
  keys: string[];
  metadata: string[];
  load_state_dict: string;
  tensors: Record<
    string,
    { dtype: string; shape: number[]; sha256_le: string; sha256_f32: string; contiguous: boolean }
  >;
};

describePython('state dicts written by Node, read by Python torch.load', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tmpDir('sd-out');
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  function setRandom(m: EmbeddingBagCollection): void {
    m.tables.forEach((t, i) => m.setWeights(t.name, randomFloats(t.num_embeddings * t.embedding_dim, 17 + i)));
  }

  test('an EBC: an OrderedDict of embedding_bags.<table>.weight, fp32 and fp16, bit for bit', async () => {
    const m = ebc();
    setRandom(m);
    const out = path.join(dir, 'ebc.pt');
    await saveStateDict(m, out);
    const py = await python<PyRead>('state_dicts.py', ['read', out, 'ebc']);
    expect(py.keys).toEqual(['embedding_bags.user.weight', 'embedding_bags.tweet.weight']);
    expect(py.metadata).toEqual(['', 'embedding_bags', 'embedding_bags.user', 'embedding_bags.tweet']);
    expect(py.load_state_dict).toBe('ok');
    const user = py.tensors['embedding_bags.user.weight'];
    const tweet = py.tensors['embedding_bags.tweet.weight'];
    expect(user).toMatchObject({ dtype: 'torch.float32', shape: [12, 4], contiguous: true });
    expect(user.sha256_le).toBe(sha256(m.getWeights('user')));
    expect(tweet).toMatchObject({ dtype: 'torch.float16', shape: [7, 3], contiguous: true });
    // Python widens its fp16 tensor; Node's getWeights is the fp16 table widened: equal iff the bits are.
    expect(tweet.sha256_f32).toBe(sha256(m.getWeights('tweet')));
  });

  test('LargeEmbeddings keys carry its ebc. prefix and load into the-algorithm-ml layout', async () => {
    const large = new LargeEmbeddings({ tables: TABLES }, { seed: 3 });
    setRandom(large.ebc);
    const out = path.join(dir, 'large.pt');
    await saveStateDict(large.ebc, out, { keyPrefix: 'ebc.' });
    const py = await python<PyRead>('state_dicts.py', ['read', out, 'large']);
    expect(py.keys).toEqual(['ebc.embedding_bags.user.weight', 'ebc.embedding_bags.tweet.weight']);
    expect(py.load_state_dict).toBe('ok');
    expect(py.tensors['ebc.embedding_bags.user.weight'].sha256_le).toBe(sha256(large.ebc.getWeights('user')));
    expect(py.tensors['ebc.embedding_bags.tweet.weight'].sha256_f32).toBe(sha256(large.ebc.getWeights('tweet')));
  });

  test('a save that fails midway keeps the previous file and leaves no temporary file', async () => {
    const m = ebc();
    setRandom(m);
    const out = path.join(dir, 'kept.pt');
    await saveStateDict(m, out);
    const before = await fsp.readFile(out);
    // The module's export, with the second table failing when the writer reaches it.
    const failing: Checkpointable = {
      tables: m.tables,
      step: 0,
      optimizerStateLayout: (t) => m.optimizerStateLayout(t),
      inCallOrder: (work) =>
        m.inCallOrder((access) =>
          work({
            ...access,
            exportState: async (tables, withState) => {
              const state = await access.exportState(tables, withState);
              Object.defineProperty(state.tables.tweet, 'weight', {
                get: () => {
                  throw new Error('lost the device while copying tweet');
                },
              });
              return state;
            },
          }),
        ),
    };
    await expect(saveStateDict(failing, out)).rejects.toThrow('lost the device');
    expect((await fsp.readFile(out)).equals(before)).toBe(true);
    expect((await fsp.readdir(dir)).filter((n) => n.startsWith('kept.pt.'))).toEqual([]);
  });

  test('Node → Node round trip restores every table exactly, and replaces the file atomically', async () => {
    const m = ebc();
    setRandom(m);
    const out = path.join(dir, 'round.pt');
    await saveStateDict(m, out);
    await saveStateDict(m, out); // over an existing file
    const m2 = ebc(TABLES, 1);
    await loadStateDict(m2, out);
    for (const t of m.tables) expect(sha256(m2.getWeights(t.name))).toBe(sha256(m.getWeights(t.name)));
    expect((await fsp.readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
