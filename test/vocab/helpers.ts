/** Shared bits of the vocab tests: parquet vocabularies written with hyparquet-writer into temp dirs. */
import * as fs from 'fs';
import * as path from 'path';
import { parquetWriteBuffer } from 'hyparquet-writer';

export { tmpDir } from '../helpers/tmp';

/** Writes one parquet vocabulary file: columns (names[0] = ids, names[1] = rows), both INT64. */
export function writeVocab(
  file: string,
  ids: (bigint | number)[],
  rows: (bigint | number)[],
  names: [string, string] = ['id', 'row'],
  o: { rowGroupSize?: number; rowType?: 'INT64' | 'INT32' } = {},
): string {
  const rowData =
    o.rowType === 'INT32' ? Int32Array.from(rows, (x) => Number(x)) : BigInt64Array.from(rows, (x) => BigInt(x));
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: names[0], data: BigInt64Array.from(ids, (x) => BigInt(x)), type: 'INT64' },
      { name: names[1], data: rowData, type: o.rowType ?? 'INT64' },
    ],
    rowGroupSize: o.rowGroupSize,
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, new Uint8Array(buffer));
  return file;
}
