/**
 * Snapshots, restores and state-dict loads take their place in call order like every other call:
 * a save issued after 3 backwards and before 3 more holds exactly the state after 3 (read under one
 * ticket, fp16 tables in their own bits); a restore issued between calls is seen by every call made
 * after it and by none made before, although it reads its files first.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { tmpDir } from './helpers';

const TABLES = [
  { name: 'user', num_embeddings: 64, embedding_dim: 8, optimizer: { adam: { lr: 0.05 } } },
  {
    name: 'item',
    num_embeddings: 32,
    embedding_dim: 4,
    data_type: 'fp16',
    optimizer: { rowwise_adagrad: { lr: 0.1 } },
  },
];
const WIDTH = 12;
const B = 4;

function batch(step: number): KeyedJaggedTensor {
  const ids = (n: number, k: number) => Array.from({ length: B * 2 }, (_, i) => (i * 7 + step * 5 + k) % n);
  return KeyedJaggedTensor.fromLengths({
    keys: ['user', 'item'],
    values: [...ids(64, 1), ...ids(32, 3)],
    lengths: new Array(2 * B).fill(2),
  });
}
const grad = (step: number) => Float32Array.from({ length: B * WIDTH }, (_, i) => Math.sin(i + step));

function state(m: EmbeddingBagCollection): unknown {
  return {
    step: m.step,
    tables: TABLES.map((t) => ({ weight: m.getWeights(t.name), ...m.optimizerState(t.name) })),
  };
}

let root: string;
beforeAll(() => {
  root = tmpDir('call-order');
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

test('a snapshot issued between backwards holds exactly the state after the ones before it', async () => {
  const m = new EmbeddingBagCollection({ tables: TABLES, seed: 3 });
  const reference = new EmbeddingBagCollection({ tables: TABLES, seed: 3 });
  for (let s = 0; s < 3; s++) await reference.backward(batch(s), grad(s));

  const dir = path.join(root, 'between');
  // Issued without awaiting: three backwards, the save, three more.
  const calls: Promise<unknown>[] = [];
  for (let s = 0; s < 3; s++) calls.push(m.backward(batch(s), grad(s)));
  calls.push(m.saveSnapshot(dir));
  for (let s = 3; s < 6; s++) calls.push(m.backward(batch(s), grad(s)));
  await Promise.all(calls);
  expect(m.step).toBe(6);

  const back = new EmbeddingBagCollection({ tables: TABLES, seed: 9 });
  expect(await back.restoreSnapshot(dir)).toEqual({ step: 3, walltime: 0 });
  expect(state(back)).toEqual(state(reference));
});

test('an fp16 table is saved in its own bits: no widening and narrowing on the way', async () => {
  const m = new EmbeddingBagCollection({ tables: TABLES, seed: 4 });
  const dir = path.join(root, 'fp16');
  await m.saveSnapshot(dir);
  const exported = await m.exportState(['item']);
  const weight = exported.tables.item.weight;
  expect(Object.prototype.toString.call(weight)).toBe('[object Uint16Array]');
  const file = path.join(dir, '0', 'model', 'embedding_bags.item.weight');
  const bytes = await fsp.readFile(file);
  expect(Buffer.compare(bytes, Buffer.from(weight.buffer, weight.byteOffset, weight.byteLength))).toBe(0);
});

test('a restore is seen by every call made after it and by none made before it', async () => {
  // Round to nearest: with stochastic rounding (the default) the fp16 bits of the step after the
  // restore are keyed by each collection's own seed, and the two seeds here differ on purpose.
  const source = new EmbeddingBagCollection({ tables: TABLES, seed: 5, stochasticRounding: false });
  const dir = path.join(root, 'restore-order');
  await source.saveSnapshot(dir, { step: 7 });

  const m = new EmbeddingBagCollection({ tables: TABLES, seed: 6, stochasticRounding: false });
  const old = (await m.forward(batch(0))).values();
  const before = m.forward(batch(0));
  const restored = m.restoreSnapshot(dir);
  // Made while the restore reads its files: they wait for it.
  const after = m.forward(batch(0));
  const stepAfter = m.backward(batch(1), grad(1));
  expectThrows(() => m.getWeights('user'), 'ERR_INVALID_ARGUMENT', 'a restore or load is in progress');
  expect((await before).values()).toEqual(old);
  expect(await restored).toEqual({ step: 7, walltime: 0 });
  expect((await after).values()).toEqual((await source.forward(batch(0))).values());
  await stepAfter;
  expect(m.step).toBe(8); // the backward ran after the restore set the step to 7
  source.setStep(7); // the same update 8 (Adam's bias correction depends on it)
  await source.backward(batch(1), grad(1));
  expect(state(m)).toEqual(state(source));
});
