/**
 * Memory-mapped restores (DESIGN "Serving"): bit-for-bit equal to in-memory restores, read-only
 * afterwards, one mapping per file shared by every collection, fallback to memory for tables that
 * cannot be mapped, and torch.save files mapped in place.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, LargeEmbeddings, Mode } from '../../lib';
import { expectRejects, expectThrows } from '../helpers/errors';
import { tmpDir } from '../helpers/tmp';
import { sameBits } from '../helpers/reliability';
import { SNAPSHOT_FIXTURES } from '../checkpoint/helpers';
import { batch, makeEbc, mappingsOf, TABLES } from './helpers';

const fixture = (name: string): { dir: string; expected: Record<string, unknown> } => {
  const dir = path.join(SNAPSHOT_FIXTURES, name);
  return { dir, expected: JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) };
};

function tweetUserModel(tweetType: 'fp32' | 'fp16'): LargeEmbeddings {
  return new LargeEmbeddings({
    tables: [
      { name: 'user', num_embeddings: 1000, embedding_dim: 16, data_type: 'fp32' },
      { name: 'tweet', num_embeddings: 500, embedding_dim: 8, data_type: tweetType },
    ],
  });
}

describe('restoreSnapshot with mmap', () => {
  let dir: string;
  let source: EmbeddingBagCollection;
  beforeAll(async () => {
    dir = path.join(tmpDir('mmap'), 'snap');
    source = makeEbc(7);
    await source.saveSnapshot(dir, { step: 42 });
  });
  afterAll(() => source.dispose());

  test('equals an in-memory restore bit for bit, forward and weights, fp32 and fp16', async () => {
    const copied = makeEbc(1);
    const mapped = makeEbc(2);
    expect(await copied.restoreSnapshot(dir)).toEqual({ step: 42, walltime: 0 });
    expect(await mapped.restoreSnapshot(dir, { mmap: true })).toEqual({ step: 42, walltime: 0 });
    expect(mapped.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
    expect(copied.tableStorage()).toEqual({ user: 'memory', tweet: 'memory' });
    for (const t of TABLES) expect(sameBits(mapped.getWeights(t.name), copied.getWeights(t.name))).toBe(true);
    for (const salt of [0, 1, 2]) {
      const [a, b] = await Promise.all([mapped.forward(batch(64, salt)), copied.forward(batch(64, salt))]);
      expect(sameBits(a.values(), b.values())).toBe(true);
    }
    expect(mapped.step).toBe(42);
    copied.dispose();
    mapped.dispose();
  });

  test('an id out of range is ERR_INDEX_OUT_OF_RANGE naming it (checked as the mapped rows are pooled)', async () => {
    const mapped = makeEbc(2);
    await mapped.restoreSnapshot(dir, { mmap: true });
    const good = batch(64, 1);
    const values = Int32Array.from(good.values() as ArrayLike<number>);
    const position = values.length - 3; // in the tweet feature (the second key), whose table has 200 rows
    values[position] = 200;
    const bad = KeyedJaggedTensor.fromLengths({ keys: good.keys(), values, lengths: good.lengths() });
    const message = `feature "tweet": id 200 at values position ${position}`;
    expectThrows(() => mapped.forwardSync(bad), 'ERR_INDEX_OUT_OF_RANGE', message);
    await expectRejects(mapped.forward(bad), 'ERR_INDEX_OUT_OF_RANGE', message);
    const before = await mapped.forward(good);
    expect(sameBits(mapped.forwardSync(good).values(), before.values())).toBe(true); // still serves
    mapped.dispose();
  });

  test('makes the collection read-only INFERENCE: TRAIN, writes and backward are ERR_INVALID_MODE', async () => {
    const m = new EmbeddingBagCollection({
      tables: TABLES.map((t) => ({ ...t, optimizer: { rowwise_adagrad: { lr: 0.1 } } })),
      seed: 3,
    });
    await m.restoreSnapshot(dir, { mmap: true });
    expect(m.mode).toBe(Mode.INFERENCE);
    expectThrows(() => m.setMode(Mode.TRAIN), 'ERR_INVALID_MODE', 'read-only');
    expectThrows(() => m.setWeights('user', new Float32Array(300 * 16)), 'ERR_INVALID_MODE', 'user', 'read-only');
    expectThrows(() => m.setOptimizerState('user', 'momentum1', new Float32Array(300)), 'ERR_INVALID_MODE');
    await expectRejects(m.backward(batch(4), new Float32Array(4 * 24)), 'ERR_INVALID_MODE');
    m.setMode(Mode.EVALUATE); // reading modes stay allowed
    expect(m.mode).toBe(Mode.EVALUATE);
    // Saving a mapped collection works: it reads the mapped rows.
    const again = path.join(tmpDir('mmap-resave'), 'snap');
    await m.saveSnapshot(again);
    const check = makeEbc(9); // no optimizer: a mapped restore does not read the (zero) optimizer state saved
    await check.restoreSnapshot(again, { mmap: true });
    expect(sameBits(check.getWeights('user'), source.getWeights('user'))).toBe(true);
    m.dispose();
    check.dispose();
  });

  test('every collection restoring the same snapshot shares one mapping per file, released with the last', async () => {
    const file = path.join(dir, '0', 'model', 'embedding_bags.user.weight');
    expect(fs.existsSync(file)).toBe(true);
    expect(mappingsOf(file)).toBe(0);
    const ms = [makeEbc(1), makeEbc(2), makeEbc(3)];
    for (const m of ms) await m.restoreSnapshot(dir, { mmap: true });
    expect(mappingsOf(file)).toBe(1);
    ms[0].dispose();
    ms[1].dispose();
    expect(mappingsOf(file)).toBe(1);
    ms[2].dispose();
    expect(mappingsOf(file)).toBe(0);
  });

  test('byte ranges of a torchsnapshot batched slab are mapped in place (Python-written fixtures)', async () => {
    for (const [name, tweetType] of [
      ['ebc_snapshot', 'fp32'],
      ['ebc_snapshot_fp16', 'fp16'],
    ] as const) {
      const { dir: fdir, expected } = fixture(name);
      const m = tweetUserModel(tweetType);
      const r = await m.restoreSnapshot(fdir, { mmap: true });
      expect(r.step).toBe(expected.step);
      expect(m.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
      const copy = tweetUserModel(tweetType);
      await copy.restoreSnapshot(fdir);
      for (const t of ['user', 'tweet']) expect(sameBits(m.ebc.getWeights(t), copy.ebc.getWeights(t))).toBe(true);
      m.ebc.dispose();
      copy.ebc.dispose();
    }
  });

  test('tables at unaligned byte ranges fall back to memory, and tableStorage() says so', async () => {
    const { dir: fdir } = fixture('ebc_snapshot');
    const shifted = path.join(tmpDir('mmap-unaligned'), 'snap');
    fs.cpSync(fdir, shifted, { recursive: true });
    const slabDir = path.join(shifted, 'batched');
    const slab = path.join(slabDir, fs.readdirSync(slabDir)[0]);
    fs.writeFileSync(slab, Buffer.concat([Buffer.from([0]), fs.readFileSync(slab)]));
    const metaFile = path.join(shifted, '.snapshot_metadata');
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    for (const e of Object.values(meta.manifest) as { byte_range?: number[] }[]) {
      if (e.byte_range) e.byte_range = e.byte_range.map((x) => x + 1);
    }
    fs.writeFileSync(metaFile, JSON.stringify(meta));
    const m = tweetUserModel('fp32');
    await m.restoreSnapshot(shifted, { mmap: true });
    expect(m.tableStorage()).toEqual({ user: 'memory', tweet: 'memory' });
    expect(m.mode).toBe(Mode.INFERENCE); // still a serving (read-only) collection
    const copy = tweetUserModel('fp32');
    await copy.restoreSnapshot(fdir);
    for (const t of ['user', 'tweet']) expect(sameBits(m.ebc.getWeights(t), copy.ebc.getWeights(t))).toBe(true);
    m.ebc.dispose();
    copy.ebc.dispose();
  });

  test('mmap is refused on a collection that cannot map; bad options are ERR_INVALID_ARGUMENT', async () => {
    const m = makeEbc(1);
    await expectRejects(m.restoreSnapshot(dir, { mmap: 'yes' } as never), 'ERR_INVALID_ARGUMENT', 'mmap');
    await expectRejects(m.loadStateDict('/nonexistent', { mmap: 1 } as never), 'ERR_INVALID_ARGUMENT', 'mmap');
    m.dispose();
  });
});

describe('loadStateDict with mmap', () => {
  test("maps our own saveStateDict's 64-byte aligned records, equal to an in-memory load", async () => {
    const source = makeEbc(11);
    const file = path.join(tmpDir('mmap-sd'), 'model.pt');
    await source.saveStateDict(file);
    const mapped = makeEbc(1);
    await mapped.loadStateDict(file, { mmap: true });
    expect(mapped.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
    expect(mapped.mode).toBe(Mode.INFERENCE);
    for (const t of TABLES) expect(sameBits(mapped.getWeights(t.name), source.getWeights(t.name))).toBe(true);
    const [a, b] = await Promise.all([mapped.forward(batch(32)), source.forward(batch(32))]);
    expect(sameBits(a.values(), b.values())).toBe(true);
    expect(mappingsOf(file)).toBe(1);
    mapped.dispose();
    expect(mappingsOf(file)).toBe(0);
    source.dispose();
  });
});
