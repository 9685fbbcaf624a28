/**
 * Every public options object goes through the config Validator: an unknown key is rejected with a
 * "did you mean" hint, every bad field is named (all of them in one error), and the values a module
 * hands on to its EmbeddingBagCollection are checked there, once. Options of a constructor are
 * ERR_INVALID_CONFIG, as EmbeddingBagCollection's own; options of a call (train, tableNorms,
 * saveSnapshot, loadStateDict) are ERR_INVALID_ARGUMENT, as every other bad argument of those calls.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConfigError, EmbeddingBagCollection, LargeEmbeddings, SmallEmbeddings, train } from '../../lib';
import { expectRejects, expectThrows } from '../helpers/errors';
import { tmpDir } from '../helpers/tmp';

const TABLE = { name: 't', num_embeddings: 10, embedding_dim: 4 };
const LARGE = { tables: [TABLE] };
const SMALL = { tables: [{ name: 'c', num_embeddings: 4, embedding_dim: 2, index: 1 }] };

describe('LargeEmbeddings options (ERR_INVALID_CONFIG)', () => {
  test('a misspelled key is rejected with a hint, not ignored', () => {
    expectThrows(
      () => new LargeEmbeddings(LARGE, { devcie: 'cuda' } as never),
      'ERR_INVALID_CONFIG',
      'invalid LargeEmbeddings options: devcie: unknown field (did you mean "device"?)',
    );
    expectThrows(
      () => new LargeEmbeddings(LARGE, { sede: 1 } as never),
      'ERR_INVALID_CONFIG',
      '(did you mean "seed"?)',
    );
  });

  test.each([
    [null, 'must be an object, got null'],
    [42, 'must be an object, got 42'],
    [[], 'must be an object, got an array'],
  ])('%p is not an options object', (o, fragment) => {
    expectThrows(() => new LargeEmbeddings(LARGE, o as never), 'ERR_INVALID_CONFIG', fragment);
  });

  test("device and seed are checked by the collection's options, under the same names", () => {
    expectThrows(
      () => new LargeEmbeddings(LARGE, { seed: -1 }),
      'ERR_INVALID_CONFIG',
      'seed: must be a non-negative integer',
    );
    expectThrows(
      () => new LargeEmbeddings(LARGE, { device: 42 } as never),
      'ERR_INVALID_CONFIG',
      'device: must be a string',
    );
  });

  test('absent options, or undefined fields, build as before', () => {
    expect(new LargeEmbeddings(LARGE).ebc.device).toBe('cpu');
    expect(new LargeEmbeddings(LARGE, { seed: undefined, device: 'cpu' }).ebc.device).toBe('cpu');
  });
});

describe('SmallEmbeddings options (ERR_INVALID_CONFIG)', () => {
  test('unknown keys, in the options and in a per-table OptimizerConfig, get hints with their paths', () => {
    const e = expectThrows(
      () => new SmallEmbeddings(SMALL, { sed: 1, optimizer: { sdg: { lr: 1 } } } as never),
      'ERR_INVALID_CONFIG',
      'sed: unknown field (did you mean "seed"?)',
      'optimizer.sdg: unknown field (did you mean "sgd"?)',
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['sed', 'optimizer.sdg', 'optimizer']);
  });

  test.each([
    [{ optimizer: 5 }, 'optimizer: must be an OptimizerConfig or an EmbeddingOptimizerConfig, got 5'],
    [{ optimizer: 'sgd' }, 'optimizer: must be an OptimizerConfig or an EmbeddingOptimizerConfig, got "sgd"'],
    [{ optimizer: { sgd: { lr: -1 } } }, 'optimizer.sgd.lr: must be a non-negative number, got -1'],
    [{ optimizer: { init_learning_rate: 'x' } }, 'optimizer.init_learning_rate'],
    [{ seed: 1.5 }, 'seed: must be a non-negative integer'],
    [null, 'must be an object, got null'],
  ])('%p', (o, fragment) => {
    expectThrows(() => new SmallEmbeddings(SMALL, o as never), 'ERR_INVALID_CONFIG', fragment);
  });

  test('an id beyond int32 in a number[] is out of range naming row and column, never wrapped into range', () => {
    const se = new SmallEmbeddings(SMALL, { seed: 1 });
    // 2^32 + 1 would be id 1 if it were narrowed to int32.
    expectThrows(
      () => se.forwardSync([0, 2 ** 32 + 1, 0, 3], 2, 2),
      'ERR_INDEX_OUT_OF_RANGE',
      `table "c": id ${2 ** 32 + 1} at row 0, column 1 is out of range [0, 4)`,
    );
    expectThrows(
      () => se.forwardSync(BigInt64Array.from([0n, 1n, 0n, -(2n ** 40n)]), 2, 2),
      'ERR_INDEX_OUT_OF_RANGE',
      `table "c": id ${-(2 ** 40)} at row 1, column 1`,
    );
  });
});

describe('tableNorms options (ERR_INVALID_ARGUMENT)', () => {
  const ebc = new EmbeddingBagCollection({ tables: [TABLE], seed: 1 });
  const large = new LargeEmbeddings(LARGE, { seed: 1 });

  test.each([
    [{ sampelRows: 10 }, 'sampelRows: unknown field (did you mean "sampleRows"?)'],
    [{ sampleRows: 0 }, 'sampleRows: must be a positive integer, got 0'],
    [{ sampleRows: 1.5 }, 'sampleRows: must be a positive integer, got 1.5'],
    [{ seed: -1 }, 'seed: must be a non-negative integer, got -1'],
    [null, 'must be an object, got null'],
  ])('%p rejects, on EmbeddingBagCollection and LargeEmbeddings alike', async (o, fragment) => {
    await expectRejects(
      ebc.tableNorms(['t'], o as never),
      'ERR_INVALID_ARGUMENT',
      'invalid tableNorms options',
      fragment,
    );
    await expectRejects(large.tableNorms(['t'], o as never), 'ERR_INVALID_ARGUMENT', fragment);
  });

  test('every bad field is listed in one error', async () => {
    const e = await expectRejects(
      ebc.tableNorms(['t'], { sampleRows: -1, seed: 'x' } as never),
      'ERR_INVALID_ARGUMENT',
    );
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['sampleRows', 'seed']);
  });

  test('valid options still give the norms', async () => {
    const norms = await ebc.tableNorms(['t'], { sampleRows: 4, seed: 3 });
    expect(norms.t).toBeGreaterThan(0);
  });
});

describe('train options (ERR_INVALID_ARGUMENT, before any step runs)', () => {
  const model = new LargeEmbeddings(LARGE, { seed: 1 });
  let steps = 0;
  const trainStep = async () => {
    steps++;
    return { loss: 0, examples: 1 };
  };

  test('a misspelled key is rejected with a hint', async () => {
    await expectRejects(
      train({ model, trainStep, numTrainSteps: 2, trainLogEvryN: 1 } as never),
      'ERR_INVALID_ARGUMENT',
      'invalid train options: trainLogEvryN: unknown field (did you mean "trainLogEveryN"?)',
    );
    expect(steps).toBe(0);
  });

  test('every bad field is named in one error', async () => {
    const e = await expectRejects(
      train({
        model: {},
        trainStep: 5,
        numTrainSteps: 0,
        keepSnapshots: 1.5,
        resume: 'yes',
        tablesToLog: 't',
        saveDir: '',
        reporter: { log: () => undefined },
      } as never),
      'ERR_INVALID_ARGUMENT',
      'model.setStep: must be a function',
      'trainStep: must be a function, got 5',
      'numTrainSteps: must be a positive integer, got 0',
      'keepSnapshots: must be a positive integer, got 1.5',
      'resume: must be true or false, got "yes"',
      'tablesToLog: must be an array',
      'saveDir: must be a non-empty string',
      'reporter.start: must be a function',
    );
    expect((e as ConfigError).issues.length).toBeGreaterThanOrEqual(8);
    expect(steps).toBe(0);
  });

  test.each([
    [{}, 'model: is required'],
    [{ model }, 'trainStep: is required'],
    [{ model, trainStep }, 'numTrainSteps: is required'],
    [{ model, trainStep, numTrainSteps: 1, evaluate: {} }, 'evaluate: must be a function'],
    [{ model, trainStep, numTrainSteps: 1, extraState: { save: () => 1 } }, 'extraState.restore: must be a function'],
  ])('%#: %p', async (o, fragment) => {
    await expectRejects(train(o as never), 'ERR_INVALID_ARGUMENT', fragment);
    expect(steps).toBe(0);
  });

  test('null fields count as absent (a bare YAML key), as in configs', async () => {
    const r = await train({
      model,
      trainStep,
      numTrainSteps: 2,
      evalEveryN: null,
      saveDir: null,
      progress: false,
      handleSigint: false,
      reporter: { start: () => undefined, update: () => undefined, log: () => undefined, stop: () => undefined },
    } as never);
    expect(r.step).toBe(2);
    expect(steps).toBe(2);
  });
});

describe('saveSnapshot extra and loadStateDict options (ERR_INVALID_ARGUMENT, before any file is touched)', () => {
  let root: string;
  beforeAll(() => {
    root = tmpDir('options');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const ebc = new EmbeddingBagCollection({ tables: [TABLE], seed: 1 });
  const large = new LargeEmbeddings(LARGE, { seed: 1 });

  test.each([
    [{ stpe: 3 }, 'stpe: unknown field (did you mean "step"?)'],
    [{ step: -1 }, 'step: must be a non-negative integer, got -1'],
    [{ walltime: NaN }, 'walltime: must be a finite number, got NaN'],
    [null, 'must be an object, got null'],
  ])('saveSnapshot extra %p', async (extra, fragment) => {
    const dir = path.join(root, 'never');
    await expectRejects(
      ebc.saveSnapshot(dir, extra as never),
      'ERR_INVALID_ARGUMENT',
      'invalid saveSnapshot extra',
      fragment,
    );
    await expectRejects(large.saveSnapshot(dir, extra as never), 'ERR_INVALID_ARGUMENT', fragment);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test.each([
    [{ strcit: false }, 'strcit: unknown field (did you mean "strict"?)'],
    [{ prefx: 'a.' }, 'prefx: unknown field (did you mean "prefix"?)'],
    [{ prefix: 5 }, 'prefix: must be a string'],
    [{ strict: 'no' }, 'strict: must be true or false, got "no"'],
    [{ keyPrefix: 'x.' }, 'keyPrefix: unknown field'],
    ['strict', 'must be an object, got "strict"'],
  ])('loadStateDict options %p', async (o, fragment) => {
    // The file does not exist: the options are checked before it is opened (else ERR_CHECKPOINT).
    const file = path.join(root, 'missing.pt');
    await expectRejects(
      ebc.loadStateDict(file, o as never),
      'ERR_INVALID_ARGUMENT',
      'invalid loadStateDict options',
      fragment,
    );
    await expectRejects(large.loadStateDict(file, o as never), 'ERR_INVALID_ARGUMENT', fragment);
  });
});
