/**
 * Managed-id maps in checkpoints: a snapshot taken mid-interval (waiting ids present) restores into a
 * collection that then behaves bit-for-bit like the one that saved it; a state dict carries the map
 * and counters; hostile maps (an id twice, a row outside the table, parts missing) are ERR_CHECKPOINT
 * and leave the module as it was.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, LargeEmbeddings, Mode } from '../../lib';
import { expectRejects } from '../helpers/errors';
import { Rng } from '../helpers/random';
import { tmpDir } from '../helpers/tmp';
import { DIM, batch, managedEbc, observedRows, zipfStream } from './helpers';

const ROWS = 9;
const IDS = Array.from({ length: 30 }, (_, k) => BigInt(k * 1_000_003) - 7n);
const OPT = { rowwise_adagrad: { lr: 0.3 } };

function make(seed = 4): EmbeddingBagCollection {
  return managedEbc({ rows: ROWS, policy: 'distance_lfu', interval: 4, optimizer: OPT, seed });
}

/** `steps` training steps from a seeded stream; returns every forward's output. */
async function train(ebc: EmbeddingBagCollection, steps: number, seed: number): Promise<number[][]> {
  const next = zipfStream(IDS, 1.0, seed);
  const r = new Rng(seed);
  const outs: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const kjt = batch(Array.from({ length: 5 }, () => Array.from({ length: r.int(1, 3) }, next)));
    outs.push(Array.from((await ebc.forward(kjt)).values()));
    await ebc.backward(
      kjt,
      Float32Array.from({ length: 5 * DIM }, () => r.next() - 0.5),
    );
  }
  return outs;
}

let root: string;
beforeAll(() => {
  root = tmpDir('managed-ckpt');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test('snapshot -> restore -> identical next steps', async () => {
  const a = make();
  const b = make();
  try {
    await train(a, 10, 1); // step 10: a pass ran at 8, ids wait since
    expect(a.managedIdStats().t.waiting).toBeGreaterThan(0);
    const dir = path.join(root, 'snap');
    await a.saveSnapshot(dir);
    await train(b, 3, 99); // something else first: the restore must replace it all
    await b.restoreSnapshot(dir);
    expect(b.step).toBe(10);
    expect(b.managedIdStats()).toEqual(a.managedIdStats());
    expect(await observedRowsOf(b)).toEqual(await observedRowsOf(a));
    expect(await train(b, 12, 2)).toEqual(await train(a, 12, 2));
    expect(b.getWeights('t')).toEqual(a.getWeights('t'));
    expect(b.managedIdStats()).toEqual(a.managedIdStats());
    expect(a.managedIdStats().t.evicted).toBeGreaterThan(0);
  } finally {
    a.dispose();
    b.dispose();
  }
});

/** The stored ids a table maps: observed through an EVALUATE forward (rows are distinct once trained). */
async function observedRowsOf(ebc: EmbeddingBagCollection): Promise<number[]> {
  return observedRows(ebc, IDS);
}

test('a state dict carries the map and the counters', async () => {
  const a = make();
  const b = make();
  try {
    await train(a, 6, 3);
    const file = path.join(root, 'sd.pt');
    await a.saveStateDict(file);
    await b.loadStateDict(file);
    expect(b.managedIdStats()).toEqual(a.managedIdStats());
    expect(b.getWeights('t')).toEqual(a.getWeights('t'));
    expect(await observedRowsOf(b)).toEqual(await observedRowsOf(a));
  } finally {
    a.dispose();
    b.dispose();
  }
});

describe('hostile snapshots of the map', () => {
  let dir: string;
  let residentsFile: string;
  let original: Buffer;
  beforeAll(async () => {
    const a = make();
    await train(a, 5, 4);
    dir = path.join(root, 'hostile');
    await a.saveSnapshot(dir);
    a.dispose();
    const modelDir = path.join(dir, '0', 'model');
    const name = fs.readdirSync(modelDir).find((f) => f.includes('managed_residents')) as string;
    residentsFile = path.join(modelDir, name);
    original = fs.readFileSync(residentsFile);
  });
  afterEach(() => fs.writeFileSync(residentsFile, original));

  async function expectRefused(edit: (v: BigInt64Array) => void, ...mentions: string[]): Promise<void> {
    const bytes = Buffer.from(original);
    const v = new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
    edit(v);
    fs.writeFileSync(residentsFile, bytes);
    const ebc = make();
    try {
      await train(ebc, 2, 8);
      const before = { stats: ebc.managedIdStats(), w: ebc.getWeights('t'), step: ebc.step };
      await expectRejects(ebc.restoreSnapshot(dir), 'ERR_CHECKPOINT', ...mentions);
      expect({ stats: ebc.managedIdStats(), w: ebc.getWeights('t'), step: ebc.step }).toEqual(before);
    } finally {
      ebc.dispose();
    }
  }

  test('an id twice', async () => {
    await expectRefused((v) => (v[4] = v[0]), 'managed ids of table "t"', 'appears twice');
  });
  test('a row outside the table (the default row is not assignable)', async () => {
    await expectRefused((v) => (v[1] = BigInt(ROWS - 1)), 'maps to row 8', 'outside [0, 8)');
    await expectRefused((v) => (v[1] = -1n), 'maps to row -1');
  });
  test('two ids on one row', async () => {
    await expectRefused((v) => (v[5] = v[1]), 'is given to two ids');
  });
  test('a negative count', async () => {
    await expectRefused((v) => (v[2] = -3n), 'negative count');
  });
  test('a snapshot without the map, into a managed table', async () => {
    const plain = new EmbeddingBagCollection({
      tables: [{ name: 't', num_embeddings: ROWS, embedding_dim: DIM, feature_names: ['f'], optimizer: OPT }],
    });
    const plainDir = path.join(root, 'plain');
    await plain.saveSnapshot(plainDir);
    plain.dispose();
    const ebc = make();
    try {
      await expectRejects(
        ebc.restoreSnapshot(plainDir),
        'ERR_CHECKPOINT',
        'has managed_collision',
        'managed_residents',
      );
    } finally {
      ebc.dispose();
    }
  });
});

test('LargeEmbeddings keeps the map under its ebc. prefix, in snapshots and state dicts', async () => {
  const config = {
    tables: [
      {
        name: 't',
        num_embeddings: 4,
        embedding_dim: DIM,
        feature_names: ['f'],
        optimizer: { sgd: { lr: 0.1 } },
        managed_collision: { eviction_interval: 2 },
      },
    ],
  };
  const a = new LargeEmbeddings(config, { seed: 2 });
  const b = new LargeEmbeddings(config, { seed: 2 });
  const c = new LargeEmbeddings(config, { seed: 2 });
  try {
    for (const bags of [[[5n, -5n]], [[7n], [8n, 8n]], [[2n ** 62n + 7n]]]) {
      const kjt = batch(bags);
      await a.forward(kjt);
      await a.backward(kjt, new Float32Array(bags.length * DIM).fill(0.5));
    }
    const dir = path.join(root, 'large');
    await a.saveSnapshot(dir);
    const entries = fs.readdirSync(path.join(dir, '0', 'model'));
    expect(entries.filter((e) => e.startsWith('ebc.embedding_bags.t.managed_')).sort()).toEqual([
      'ebc.embedding_bags.t.managed_counters',
      'ebc.embedding_bags.t.managed_residents',
      'ebc.embedding_bags.t.managed_waiting',
    ]);
    await b.restoreSnapshot(dir);
    expect(b.ebc.managedIdStats()).toEqual(a.ebc.managedIdStats());
    const file = path.join(root, 'large.pt');
    await a.saveStateDict(file);
    await c.loadStateDict(file);
    expect(c.ebc.managedIdStats()).toEqual(a.ebc.managedIdStats());
    const probe = batch([[5n], [-5n], [7n], [8n], [2n ** 62n + 7n], [99n]]);
    a.setMode(Mode.EVALUATE); // reads only: a TRAIN forward would admit 99
    for (const m of [b, c]) {
      m.setMode(Mode.EVALUATE);
      expect((await m.forward(probe)).values()).toEqual((await a.forward(probe)).values());
    }
  } finally {
    a.ebc.dispose();
    b.ebc.dispose();
    c.ebc.dispose();
  }
});
