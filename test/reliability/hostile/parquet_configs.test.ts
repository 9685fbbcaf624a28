/**
 * Hostile parquet vocabularies (forged num_rows, a FIFO named *.parquet) and configs (environment
 * values that would add keys, expansion past V8's string limit, oversized files and FIFOs), loaded in
 * a child process (children/hostile_load.js).
 */
import { execFileSync } from 'child_process';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { ByteWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer';
import { MAX_CONFIG_BYTES } from '../../../lib/config/load';
import { expectRefused, hostile, TABLE, tmpDir } from './helpers';

let dir: string;
beforeAll(async () => {
  dir = await tmpDir('pq-cfg');
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A 4-row vocabulary whose footer says `total` rows (and `group` rows for its one row group). */
async function forgedVocab(name: string, total: bigint, group?: bigint): Promise<string> {
  const columnData = [
    { name: 'id', data: BigInt64Array.from([11n, 12n, 13n, 14n]), type: 'INT64' as const },
    { name: 'row', data: BigInt64Array.from([0n, 1n, 2n, 3n]), type: 'INT64' as const },
  ];
  const writer = new ByteWriter();
  const pq = new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData }) });
  pq.write({ columnData, rowGroupSize: 100 });
  // The writer's own tallies become the footer: forge them as a hostile file would.
  const forge = pq as unknown as { num_rows: bigint; row_groups: { num_rows: bigint }[] };
  forge.num_rows = total;
  if (group !== undefined) forge.row_groups[0].num_rows = group;
  pq.finish();
  const file = path.join(dir, `${name}.parquet`);
  await fsp.writeFile(file, new Uint8Array(writer.getBuffer()));
  return file;
}

const withVocab = (vocab: string): Record<string, unknown> => ({ op: 'pretrained', tables: [{ ...TABLE, vocab }] });

describe('parquet vocabularies with forged footers', () => {
  test.each([
    ['num_rows 2^40', 2n ** 40n, undefined, 'but its row groups hold 4 rows'],
    ['num_rows -1', -1n, undefined, 'num_rows -1 is not a row count'],
    ['num_rows 2^40 in the footer and its row group', 2n ** 40n, 2n ** 40n, 'holds 4 rows, but the file declares'],
    [
      'an under-declared num_rows (rows were silently dropped)',
      2n,
      2n,
      'holds 4 rows, but the file declares num_rows 2',
    ],
  ])('%s', async (name, total, group, mention) => {
    const file = await forgedVocab(name.replace(/\W+/g, '_'), total, group);
    expectRefused(await hostile(withVocab(file)), 'ERR_CHECKPOINT', mention);
  });

  test('a FIFO named *.parquet in a vocabulary folder is refused, not waited on', async () => {
    const vocabDir = path.join(dir, 'fifo_vocab');
    await fsp.mkdir(vocabDir);
    execFileSync('mkfifo', [path.join(vocabDir, 'a.parquet')]);
    expectRefused(await hostile(withVocab(vocabDir)), 'ERR_CHECKPOINT', 'is a FIFO, not a regular file');
  });
});

describe('config files', () => {
  const loadIn = async (
    name: string,
    text: string,
    env: Record<string, string>,
    envRepeat?: Record<string, [string, number]>,
  ): ReturnType<typeof hostile> => {
    const file = path.join(dir, name);
    await fsp.writeFile(file, text);
    return hostile({ op: 'loadConfig', path: file, env, envRepeat });
  };

  test('an environment value with a newline or quotes cannot add YAML keys', async () => {
    const r = await loadIn('inject.yaml', 'name: ${TRN_EVIL}\nquoted: "${TRN_EVIL}"\ndim: ${TRN_DIM}\n', {
      TRN_EVIL: 'x"\nnum_embeddings: 1\nevil: {a: 1}',
      TRN_DIM: '8',
    });
    expect(r.threw).toBe(false);
    expect(r.extra).toEqual({
      name: 'x"\nnum_embeddings: 1\nevil: {a: 1}',
      quoted: 'x"\nnum_embeddings: 1\nevil: {a: 1}',
      dim: 8,
    });
  });

  test('nor JSON keys: escaped inside strings, a JSON literal required outside them', async () => {
    const env = { TRN_EVIL: 'x", "evil": "1', TRN_DIM: '3' };
    const ok = await loadIn('inject.json', '{"name": "${TRN_EVIL}", "d": ${TRN_DIM}}', env);
    expect(ok.extra).toEqual({ name: 'x", "evil": "1', d: 3 });
    const bad = await loadIn('inject2.json', '{"d": ${TRN_EVIL}}', env);
    expectRefused(bad, 'ERR_INVALID_CONFIG', 'TRN_EVIL is used outside a JSON string');
  });

  test('expansion past V8 string limits is an ERR_INVALID_CONFIG, in bounded memory', async () => {
    const text = `a: "${'${TRN_BIG}'.repeat(200)}"\n`;
    const r = await loadIn('big_env.yaml', text, {}, { TRN_BIG: ['x', 1024 * 1024] });
    expectRefused(r, 'ERR_INVALID_CONFIG', 'longer than', 'big_env.yaml');
  });

  test('an oversized config file is refused before it is read', async () => {
    const file = path.join(dir, 'huge.yaml');
    const fh = await fsp.open(file, 'w');
    await fh.truncate(MAX_CONFIG_BYTES + 1); // sparse: no disk used
    await fh.close();
    expectRefused(await hostile({ op: 'loadConfig', path: file }), 'ERR_INVALID_CONFIG', 'more than');
  });

  test('a FIFO config is refused, not waited on', async () => {
    const file = path.join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [file]);
    expectRefused(await hostile({ op: 'loadConfig', path: file }), 'ERR_INVALID_CONFIG', 'it is a FIFO');
  });
});
