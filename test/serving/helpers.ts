/** Shared pieces of the serving tests: small collections, batches, snapshot surgery, mapping counts. */
import * as fs from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import { ChildResult, TS_REGISTER, startNode } from '../helpers/reliability';

export const SERVING_CHILDREN = path.join(__dirname, 'children');

export const TABLES = [
  { name: 'user', num_embeddings: 300, embedding_dim: 16, data_type: 'fp32' },
  { name: 'tweet', num_embeddings: 200, embedding_dim: 8, data_type: 'fp16' },
];

export function makeEbc(seed: number): EmbeddingBagCollection {
  return new EmbeddingBagCollection({ tables: TABLES, seed });
}

/** A batch of `b` samples reading every table, ids spread over the whole tables. */
export function batch(b: number, salt = 0): KeyedJaggedTensor {
  const values: number[] = [];
  const lengths: number[] = [];
  TABLES.forEach((t, k) => {
    for (let i = 0; i < b; i++) {
      const len = 1 + ((i + k + salt) % 3);
      lengths.push(len);
      for (let j = 0; j < len; j++) values.push((i * 37 + j * 101 + salt * 13 + k) % t.num_embeddings);
    }
  });
  return KeyedJaggedTensor.fromLengths({ keys: TABLES.map((t) => t.name), values, lengths });
}

/** How many mappings of `file` this process has: the lines of /proc/self/maps that name it. */
export function mappingsOf(file: string): number {
  const real = fs.realpathSync(file);
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${real}`)).length;
}

/** Runs test/serving/children/<script> with the TS register; resolves however it ends. */
export function runServingChild(
  script: string,
  args: string[] = [],
  o: { timeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<ChildResult> {
  const argv = [...(o.nodeArgs ?? []), '-r', TS_REGISTER, path.join(SERVING_CHILDREN, script), ...args];
  return startNode(argv, { ...process.env }, o.timeoutMs ?? 120000).done;
}
