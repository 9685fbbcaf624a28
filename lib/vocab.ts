/**
 * Reading a table's vocabulary: the-algorithm-ml's `EmbeddingBagConfig.vocab`, "Directory to parquet
 * files of mapping from entity ID to table index" (common/modules/embedding/config.py). That project
 * states no column names, so this reader accepts either of two schemas:
 *
 * - columns `id` and `row`, or
 * - columns `entity_id` and `index`,
 *
 * each an integer column (parquet INT32 or INT64, no nulls); other columns are ignored. Each row maps
 * the raw 64-bit entity id to a row of the table, which must lie in [0, num_embeddings). `vocab` is
 * a directory (every `*.parquet` file in it, in name order, read as one vocabulary) or a single
 * parquet file. An entity id appearing twice, in one file or across files, is an error.
 *
 * Every problem is a TorchrecError ERR_CHECKPOINT naming the file (and the row within it, counted
 * from 0, and the value where there is one).
 *
 * The files are untrusted: only regular files are read (a FIFO named x.parquet is refused, not
 * waited on), and the footer's `num_rows` is never used to size anything before it is checked
 * against its row groups and against the rows that actually decode (a forged 2^40 or -1 was a
 * RangeError; an under-declared count silently dropped rows).
 */
import * as fs from 'fs';
import * as path from 'path';
// Loaded on first use: only collections with a vocab need the parquet reader.
import type { AsyncBuffer } from 'hyparquet';
import { TorchrecError } from './errors';
import { readRegularFile } from './checkpoint/fs_util';

/** The largest vocabulary file read (it is read whole): 2^31 bytes, tens of millions of rows. */
export const MAX_VOCAB_FILE_BYTES = 2 ** 31;

/** The accepted (entity id, row) column-name pairs, in order of preference. */
export const VOCAB_SCHEMAS: readonly (readonly [string, string])[] = [
  ['id', 'row'],
  ['entity_id', 'index'],
];

export interface VocabFile {
  file: string;
  /** Position of the file's first entry in `ids` / `rows`. */
  start: number;
  count: number;
}

export interface LoadedVocab {
  ids: BigInt64Array;
  rows: BigInt64Array;
  files: VocabFile[];
}

function vocabError(table: string, message: string): TorchrecError {
  return new TorchrecError('ERR_CHECKPOINT', `vocabulary of table "${table}": ${message}`);
}

/** The parquet files of a `vocab` setting: the file itself, or a directory's *.parquet in name order. */
export function vocabFiles(table: string, location: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(location);
  } catch (e) {
    throw vocabError(table, `cannot read ${location}: ${(e as Error).message}`);
  }
  if (!stat.isDirectory()) return [location];
  const names = fs
    .readdirSync(location)
    .filter((n) => n.endsWith('.parquet'))
    .sort();
  if (names.length === 0) throw vocabError(table, `the directory ${location} holds no *.parquet file`);
  return names.map((n) => path.join(location, n));
}

function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return undefined;
}

async function readFile(
  table: string,
  file: string,
  numEmbeddings: number,
): Promise<{ ids: BigInt64Array; rows: BigInt64Array }> {
  let idColumn: string;
  let rowColumn: string;
  let count: number;
  // Columnar chunks as the reader decodes them (no per-row objects: vocabularies can be large).
  const chunks = new Map<string, { rowStart: number; data: ArrayLike<unknown> }[]>();
  try {
    const { parquetMetadataAsync, parquetRead } = await import('hyparquet');
    const bytes = await readRegularFile(file, `vocabulary of table "${table}"`, MAX_VOCAB_FILE_BYTES);
    if (bytes.byteLength === 0) throw new Error('the file is empty');
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const buffer: AsyncBuffer = { byteLength: data.byteLength, slice: (start, end) => data.slice(start, end) };
    const metadata = await parquetMetadataAsync(buffer);
    const leaves = metadata.schema.slice(1);
    const names = leaves.map((s) => s.name);
    const pair = VOCAB_SCHEMAS.find(([a, b]) => names.includes(a) && names.includes(b));
    if (!pair) {
      throw vocabError(
        table,
        `${file}: expected integer columns (id, row) or (entity_id, index), found columns ` +
          `${names.length > 0 ? names.join(', ') : 'none'}`,
      );
    }
    [idColumn, rowColumn] = pair;
    for (const name of pair) {
      const type = leaves.find((s) => s.name === name)?.type;
      if (type !== 'INT64' && type !== 'INT32') {
        throw vocabError(table, `${file}: column "${name}" must be an integer column (INT64 or INT32), got ${type}`);
      }
      chunks.set(name, []);
    }
    count = declaredRows(table, file, metadata.num_rows, metadata.row_groups);
    await parquetRead({
      file: buffer,
      metadata,
      columns: [idColumn, rowColumn],
      onChunk: (c) => chunks.get(c.columnName)?.push({ rowStart: c.rowStart, data: c.columnData }),
    });
  } catch (e) {
    if (e instanceof TorchrecError) throw e;
    throw vocabError(table, `${file} is not a readable parquet file: ${(e as Error).message}`);
  }
  const column = (name: string): BigInt64Array => {
    // What decoded, not what the footer says, bounds the arrays: compare before allocating.
    let decoded = 0;
    for (const { rowStart, data } of chunks.get(name) ?? []) decoded = Math.max(decoded, rowStart + data.length);
    if (decoded !== count) {
      throw vocabError(
        table,
        `${file}: column ${name} holds ${decoded} rows, but the file declares num_rows ${count}; ` +
          'the footer is wrong or the file was altered',
      );
    }
    const out = new BigInt64Array(count);
    const filled = new Uint8Array(count);
    for (const { rowStart, data } of chunks.get(name) ?? []) {
      for (let i = 0; i < data.length; i++) {
        const v = toBigInt(data[i]);
        if (v === undefined) throw vocabError(table, `${file} row ${rowStart + i}: ${name} is ${String(data[i])}`);
        out[rowStart + i] = v;
        filled[rowStart + i] = 1;
      }
    }
    const hole = filled.indexOf(0);
    if (hole >= 0) throw vocabError(table, `${file} row ${hole}: no value for column ${name}`);
    return out;
  };
  const ids = column(idColumn);
  const rows = column(rowColumn);
  for (let i = 0; i < count; i++) {
    if (rows[i] < 0n || rows[i] >= BigInt(numEmbeddings)) {
      throw vocabError(
        table,
        `${file} row ${i}: ${rowColumn} ${rows[i]} (entity id ${ids[i]}) is outside the table's rows [0, ${numEmbeddings})`,
      );
    }
  }
  return { ids, rows };
}

/** The footer's num_rows, checked: a non-negative safe integer equal to the sum over its row groups. */
function declaredRows(table: string, file: string, numRows: unknown, groups: readonly { num_rows: unknown }[]): number {
  const asCount = (x: unknown): number | undefined => {
    const n = typeof x === 'bigint' ? Number(x) : x;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  };
  const total = asCount(numRows);
  if (total === undefined)
    throw vocabError(table, `${file}: the footer's num_rows ${String(numRows)} is not a row count`);
  let sum = 0;
  for (const [i, g] of groups.entries()) {
    const n = asCount(g.num_rows);
    if (n === undefined) {
      throw vocabError(table, `${file}: row group ${i} declares num_rows ${String(g.num_rows)}, not a row count`);
    }
    sum += n;
  }
  if (sum !== total) {
    throw vocabError(table, `${file}: the footer declares num_rows ${total}, but its row groups hold ${sum} rows`);
  }
  return total;
}

/** Reads and checks (rows in range) every file of a table's vocabulary. */
export async function loadVocab(table: string, location: string, numEmbeddings: number): Promise<LoadedVocab> {
  const files = vocabFiles(table, location);
  const parts = [];
  for (const file of files) parts.push(await readFile(table, file, numEmbeddings));
  const total = parts.reduce((n, p) => n + p.ids.length, 0);
  if (total === 0) throw vocabError(table, `${location} holds no entries`);
  const ids = new BigInt64Array(total);
  const rows = new BigInt64Array(total);
  const described: VocabFile[] = [];
  let at = 0;
  parts.forEach((p, k) => {
    described.push({ file: files[k], start: at, count: p.ids.length });
    ids.set(p.ids, at);
    rows.set(p.rows, at);
    at += p.ids.length;
  });
  return { ids, rows, files: described };
}

function locate(files: VocabFile[], position: number): string {
  const f = files.find((x) => position >= x.start && position < x.start + x.count);
  return f ? `${f.file} row ${position - f.start}` : `entry ${position}`;
}

/** The error for entity id entries `first` and `second` (the native map's positions) being equal, by file and row. */
export function describeDuplicate(table: string, vocab: LoadedVocab, first: number, second: number): TorchrecError {
  return vocabError(
    table,
    `entity id ${vocab.ids[second]} appears twice: ${locate(vocab.files, first)} and ${locate(vocab.files, second)}`,
  );
}
