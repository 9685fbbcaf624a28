/** Bad data fails before the first training step, with a clear code and nothing written. */
import { existsSync, rmSync, mkdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { runTwhin } from '../../examples/twhin/run';
import { TINY, tinyConfig, tinyGraph, tmpDir } from './helpers';

function writeEdges(file: string, lhs: number[], rel: number[], rhs: number[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const col = (name: string, xs: number[]) => ({ name, data: xs.map(BigInt), type: 'INT64' as const });
  writeFileSync(
    file,
    new Uint8Array(parquetWriteBuffer({ columnData: [col('lhs', lhs), col('rel', rel), col('rhs', rhs)] })),
  );
}

describe('TwHIN data errors', () => {
  let dir: string;
  let data: { train: string; validation: string };
  beforeAll(async () => {
    dir = tmpDir('data');
    data = await tinyGraph(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function expectRejected(train: string, code: string, message: RegExp): Promise<void> {
    const saveDir = path.join(dir, `save-${path.basename(train)}`);
    const config = tinyConfig({ train, validation: data.validation }, saveDir);
    config.train_data.data_root = train;
    await expect(runTwhin(config, { progress: false })).rejects.toMatchObject({
      code,
      message: expect.stringMatching(message),
    });
    expect(existsSync(saveDir)).toBe(false); // rejected before training or snapshotting began
  }

  it('rejects an rhs id beyond its table', async () => {
    const file = path.join(dir, 'big', 'edges.parquet');
    writeEdges(file, [1, 2], [0, 1], [3, TINY.tweets]);
    await expectRejected(
      file,
      'ERR_INDEX_OUT_OF_RANGE',
      /row 1 rhs id 200 is outside table "tweet" \(num_embeddings 200\)/,
    );
  });

  it('rejects a rel that is not a relation index', async () => {
    const file = path.join(dir, 'rel', 'edges.parquet');
    writeEdges(file, [1], [7], [3]);
    await expectRejected(file, 'ERR_INDEX_OUT_OF_RANGE', /rel 7 is not a relation index/);
  });

  it('rejects an empty file and a corrupt one as ERR_DATA', async () => {
    const empty = path.join(dir, 'empty.parquet');
    writeFileSync(empty, '');
    await expectRejected(empty, 'ERR_DATA', /empty file/);
    const corrupt = path.join(dir, 'corrupt.parquet');
    writeFileSync(corrupt, 'PAR1 this is not parquet at all PAR1');
    await expectRejected(corrupt, 'ERR_DATA', /not a readable parquet file/);
  });

  it('rejects a parquet file without edges and a data_root that matches nothing', async () => {
    const none = path.join(dir, 'none', 'edges.parquet');
    writeEdges(none, [], [], []);
    await expectRejected(none, 'ERR_DATA', /holds no edges/);
    await expectRejected(path.join(dir, 'nowhere', '*.parquet'), 'ERR_DATA', /no such file|matches no files/);
  });

  it('rejects a save_dir that is not writable before the first step', async () => {
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const config = tinyConfig(data, path.join(blocker, 'model'));
    await expect(runTwhin(config, { progress: false })).rejects.toMatchObject({
      code: 'ERR_CHECKPOINT',
      message: expect.stringMatching(/is not writable/),
    });
  });
});
