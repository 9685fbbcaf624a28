/**
 * Bad vocabularies: each makes `ready` reject with a TorchrecError naming the file (and row and value
 * where there is one), and the collection then refuses lookups on the table instead of guessing.
 * Bad vocabOov options fail at construction.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';
import { tmpDir, writeVocab } from './helpers';

let root: string;
beforeAll(() => {
  root = tmpDir('errors');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function build(vocab: string, rows = 4): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [{ name: 't', num_embeddings: rows, embedding_dim: 2, vocab }],
    seed: 1,
  });
}

async function expectVocabError(vocab: string, pattern: RegExp): Promise<EmbeddingBagCollection> {
  const m = build(vocab);
  const err = await m.ready.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TorchrecError);
  expect((err as TorchrecError).code).toBe('ERR_CHECKPOINT');
  expect((err as TorchrecError).message).toMatch(/^vocabulary of table "t": /);
  expect((err as TorchrecError).message).toMatch(pattern);
  return m;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('bad vocabularies', () => {
  test('an empty (0-byte) file', async () => {
    const file = path.join(root, 'empty.parquet');
    fs.writeFileSync(file, '');
    await expectVocabError(file, new RegExp(`${esc(file)} is not a readable parquet file: the file is empty`));
  });

  test('a corrupt file', async () => {
    const file = path.join(root, 'corrupt.parquet');
    fs.writeFileSync(file, Buffer.from('PAR1 this is not really parquet at all, just bytes PAR1'));
    await expectVocabError(file, new RegExp(`${esc(file)} is not a readable parquet file`));
  });

  test('a truncated file', async () => {
    const good = writeVocab(path.join(root, 'good_for_truncation.parquet'), [1, 2, 3], [0, 1, 2]);
    const file = path.join(root, 'truncated.parquet');
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 9));
    await expectVocabError(file, new RegExp(`${esc(file)} is not a readable parquet file`));
  });

  test('a row outside the table, named by file, row and value', async () => {
    const file = writeVocab(path.join(root, 'range.parquet'), [10, 11, 12], [0, 4, 1]);
    await expectVocabError(
      file,
      new RegExp(`${esc(file)} row 1: row 4 \\(entity id 11\\) is outside the table's rows \\[0, 4\\)`),
    );
  });

  test('a negative row', async () => {
    const file = writeVocab(path.join(root, 'negative.parquet'), [10, 11], [-1, 2]);
    await expectVocabError(file, new RegExp(`${esc(file)} row 0: row -1`));
  });

  test('a duplicate entity id within a file', async () => {
    const file = writeVocab(path.join(root, 'dup.parquet'), [10, 11, 10], [0, 1, 2]);
    await expectVocabError(file, new RegExp(`entity id 10 appears twice: ${esc(file)} row 0 and ${esc(file)} row 2`));
  });

  test('a duplicate entity id across files of a directory, naming both files', async () => {
    const dir = path.join(root, 'dupdir');
    const a = writeVocab(path.join(dir, 'part-0.parquet'), [5, 6], [0, 1]);
    const b = writeVocab(path.join(dir, 'part-1.parquet'), [7, 6], [2, 3]);
    await expectVocabError(dir, new RegExp(`entity id 6 appears twice: ${esc(a)} row 1 and ${esc(b)} row 1`));
  });

  test('wrong column names list the columns found', async () => {
    const file = writeVocab(path.join(root, 'names.parquet'), [1], [0], ['key', 'value']);
    await expectVocabError(
      file,
      /expected integer columns \(id, row\) or \(entity_id, index\), found columns key, value/,
    );
  });

  test('a missing path, and a directory without parquet files', async () => {
    await expectVocabError(path.join(root, 'nope'), /cannot read .*nope/);
    const dir = path.join(root, 'nothing');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'x.csv'), '1,2');
    await expectVocabError(dir, new RegExp(`the directory ${esc(dir)} holds no \\*\\.parquet file`));
  });

  test('a vocabulary with no entries', async () => {
    const file = writeVocab(path.join(root, 'zero_rows.parquet'), [], []);
    await expectVocabError(file, /holds no entries/);
  });

  test('after a failed load, forward on the table rejects naming the failure', async () => {
    const file = writeVocab(path.join(root, 'range2.parquet'), [1], [9]);
    const m = await expectVocabError(file, /outside/);
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1], lengths: [1] });
    await expect(m.forward(kjt)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/^forward: the vocabulary of table "t" failed to load \(vocabulary of table/),
    });
  });
});

describe('vocabOov option', () => {
  const file = (): string => writeVocab(path.join(root, 'oov_ok.parquet'), [1], [0]);
  const make = (vocabOov: unknown, vocab: string | undefined = file()): EmbeddingBagCollection =>
    new EmbeddingBagCollection({
      tables: [
        { name: 'v', num_embeddings: 4, embedding_dim: 2, vocab },
        { name: 'p', num_embeddings: 4, embedding_dim: 2 },
      ],
      vocabOov: vocabOov as Record<string, number>,
    });

  test.each([
    [{ nope: 1 }, /vocabOov\.nope.*no table named "nope"/],
    [{ p: 1 }, /vocabOov\.p.*table "p" has no vocab/],
    [{ v: 4 }, /vocabOov\.v.*must be 'skip' or a row index in \[0, 4\), got 4/],
    [{ v: 'drop' }, /vocabOov\.v.*got drop/],
    [[1], /vocabOov.*must be an object/],
  ])('%j is ERR_INVALID_CONFIG', (value, pattern) => {
    expect(() => make(value)).toThrow(pattern);
    try {
      make(value);
    } catch (e) {
      expect((e as TorchrecError).code).toBe('ERR_INVALID_CONFIG');
    }
  });

  test("'skip' and a row index are accepted", async () => {
    await make({ v: 'skip' }).ready;
    await make({ v: 3 }).ready;
  });
});
