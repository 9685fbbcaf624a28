/**
 * TwHIN edges (the-algorithm-ml's projects/twhin/data/edges.py): parquet files with int64 columns
 * `lhs`, `rel`, `rhs`. Everything is checked while loading, before any training step: unreadable,
 * empty or corrupt files are ERR_DATA, ids outside their table ERR_INDEX_OUT_OF_RANGE.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { parquetReadObjects } from 'hyparquet';
import { KeyedJaggedTensor, TorchrecError } from '../../lib';
import type { TwhinModelConfig } from './config';

export interface Edges {
  lhs: Int32Array;
  rel: Int32Array;
  rhs: Int32Array;
}

function dataError(message: string): TorchrecError {
  return new TorchrecError('ERR_DATA', message);
}

/** data_root as the-algorithm-ml writes it: a file, a directory, or a `dir/*.parquet`-style glob. */
export async function listFiles(dataRoot: string): Promise<string[]> {
  const base = path.basename(dataRoot);
  let files: string[];
  try {
    if (base.includes('*')) {
      const dir = path.dirname(dataRoot);
      const re = new RegExp(
        `^${base
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      );
      files = (await fs.readdir(dir))
        .filter((n) => re.test(n))
        .sort()
        .map((n) => path.join(dir, n));
    } else if ((await fs.stat(dataRoot)).isDirectory()) {
      files = (await fs.readdir(dataRoot))
        .filter((n) => n.endsWith('.parquet'))
        .sort()
        .map((n) => path.join(dataRoot, n));
    } else {
      files = [dataRoot];
    }
  } catch (e) {
    throw dataError(`data_root ${JSON.stringify(dataRoot)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (files.length === 0) throw dataError(`data_root ${JSON.stringify(dataRoot)} matches no files`);
  return files;
}

async function readFile(file: string): Promise<Record<string, unknown>[]> {
  const bytes = await fs.readFile(file);
  if (bytes.length === 0) throw dataError(`${file}: empty file, not parquet`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  try {
    return (await parquetReadObjects({ file: buffer, columns: ['lhs', 'rel', 'rhs'] })) as Record<string, unknown>[];
  } catch (e) {
    throw dataError(
      `${file}: not a readable parquet file with columns lhs, rel, rhs (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

function toIndex(x: unknown, file: string, row: number, col: string): number {
  const n = typeof x === 'bigint' ? Number(x) : x;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw dataError(`${file}: row ${row} column ${col} must be an integer id, got ${String(x)}`);
  }
  return n;
}

/** Loads and validates every edge under dataRoot against the model's relations and table sizes. */
export async function loadEdges(dataRoot: string, model: TwhinModelConfig): Promise<Edges> {
  const size = new Map(model.embeddings.tables.map((t) => [t.name, t.num_embeddings]));
  // Managed-id tables take raw entity ids of any value (nodesKjt hashes them): no row range to check.
  const managed = new Set(model.embeddings.tables.filter((t) => t.managed_collision).map((t) => t.name));
  const lhs: number[] = [];
  const rel: number[] = [];
  const rhs: number[] = [];
  for (const file of await listFiles(dataRoot)) {
    const rows = await readFile(file);
    rows.forEach((r, i) => {
      const e = [toIndex(r.lhs, file, i, 'lhs'), toIndex(r.rel, file, i, 'rel'), toIndex(r.rhs, file, i, 'rhs')];
      const relation = model.relations[e[1]];
      if (relation === undefined) {
        throw new TorchrecError(
          'ERR_INDEX_OUT_OF_RANGE',
          `${file}: row ${i} rel ${e[1]} is not a relation index (0..${model.relations.length - 1})`,
        );
      }
      for (const [side, id] of [
        ['lhs', e[0]],
        ['rhs', e[2]],
      ] as const) {
        const table = relation[side];
        const n = size.get(table) as number;
        if (id < 0 || (!managed.has(table) && id >= n)) {
          throw new TorchrecError(
            'ERR_INDEX_OUT_OF_RANGE',
            `${file}: row ${i} ${side} id ${id} is outside table "${table}" (num_embeddings ${n}) of relation "${relation.name}"`,
          );
        }
      }
      lhs.push(e[0]);
      rel.push(e[1]);
      rhs.push(e[2]);
    });
  }
  if (lhs.length === 0) throw dataError(`data_root ${JSON.stringify(dataRoot)} holds no edges`);
  return { lhs: Int32Array.from(lhs), rel: Int32Array.from(rel), rhs: Int32Array.from(rhs) };
}

/** A small seeded PRNG (mulberry32) so batches and negatives are reproducible across a resume. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function permutation(n: number, random: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Edge indices of batch `b` (0-based, counting across epochs): each epoch is a fresh seeded
 * shuffle, the remainder dropped (TwHIN's model assumes full batches). Depends only on (seed, b), so
 * a resumed run sees the same batches as an uninterrupted one.
 */
export function batchIndices(count: number, batchSize: number, b: number, seed: number): Int32Array {
  const perEpoch = Math.floor(count / batchSize);
  if (perEpoch === 0) throw dataError(`${count} edges are fewer than one batch of ${batchSize}`);
  const epoch = Math.floor(b / perEpoch);
  const order = permutation(count, rng(seed * 7919 + epoch));
  const start = (b % perEpoch) * batchSize;
  return order.slice(start, start + batchSize);
}

/**
 * The nodes KJT of the-algorithm-ml's EdgeBatch: 2B rows (lhs then rhs of each edge), keys = table
 * names, each row holding one id in the feature of its table.
 */
/**
 * The raw 64-bit id a managed-id table sees for entity `id` of table `table`: a splitmix64 hash, as a
 * production id would be (sparse, signed, nothing like a row number).
 */
export function rawEntityId(table: number, id: number): bigint {
  let z = BigInt.asUintN(64, (BigInt(table) << 40n) + BigInt(id) + 0x9e3779b97f4a7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return BigInt.asIntN(64, z ^ (z >> 31n));
}

export function nodesKjt(edges: Edges, idx: Int32Array, model: TwhinModelConfig): KeyedJaggedTensor {
  const keys = model.embeddings.tables.map((t) => t.name);
  const rows = idx.length * 2;
  const tableOf = new Int32Array(rows);
  const ids = new Int32Array(rows);
  idx.forEach((e, i) => {
    const relation = model.relations[edges.rel[e]];
    tableOf[2 * i] = keys.indexOf(relation.lhs);
    ids[2 * i] = edges.lhs[e];
    tableOf[2 * i + 1] = keys.indexOf(relation.rhs);
    ids[2 * i + 1] = edges.rhs[e];
  });
  const lengths = new Int32Array(keys.length * rows);
  const values: number[] = [];
  for (let k = 0; k < keys.length; k++) {
    for (let r = 0; r < rows; r++) {
      if (tableOf[r] === k) {
        lengths[k * rows + r] = 1;
        values.push(ids[r]);
      }
    }
  }
  const managed = model.embeddings.tables.map((t) => t.managed_collision !== undefined);
  if (!managed.includes(true)) return KeyedJaggedTensor.fromLengths({ keys, values: Int32Array.from(values), lengths });
  // Values are key-major: the table of value i is the key whose block holds it.
  const raw = new BigInt64Array(values.length);
  let i = 0;
  for (let k = 0; k < keys.length; k++) {
    for (let r = 0; r < rows; r++) {
      if (lengths[k * rows + r] === 0) continue;
      raw[i] = managed[k] ? rawEntityId(k, values[i]) : BigInt(values[i]);
      i++;
    }
  }
  return KeyedJaggedTensor.fromLengths({ keys, values: raw, lengths });
}
