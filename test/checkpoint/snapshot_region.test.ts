/**
 * readRegion (what a sharded restore reads for one local shard) against the whole tensor readFloat32
 * assembles, on snapshots Python wrote in torchsnapshot's layouts: row-wise and column-wise
 * ShardedTensors over 2 ranks (one rank's shards in a batched slab), ChunkedTensors, plain and
 * torch_save tensors, fp16 — for blocks that cut rows, columns, or both, across piece boundaries.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { SnapshotReader } from '../../lib/checkpoint/snapshot_reader';
import { readRegion } from '../../lib/checkpoint/snapshot_region';
import { describePython, python, tmpDir } from './helpers';

describePython('readRegion: any block of any stored layout equals that block of the whole tensor', () => {
  let root: string;
  beforeAll(async () => {
    root = await tmpDir('torchrec-region-');
    await python('snapshots.py', ['write', root]);
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  const cases: [string, string][] = [
    ['sharded', 'model/ebc.embedding_bags.user.weight'], // row-wise, 2 ranks, rank 0 in a slab
    ['sharded', 'model/ebc.embedding_bags.tweet.weight'], // column-wise fp16
    ['chunked_slab', 'model/ebc.embedding_bags.user.weight'],
    ['chunked_files', 'model/ebc.embedding_bags.tweet.weight'], // plain fp16 tensor
    ['mixed', 'model/ebc.embedding_bags.user.weight'], // torch_save
  ];
  test.each(cases)('%s %s', async (snapshot, logical) => {
    const reader = await SnapshotReader.open(path.join(root, snapshot));
    try {
      const shape = reader.info(logical).shape;
      const whole = await reader.readFloat32(logical, shape);
      const [n, d] = shape;
      const blocks = [
        [0, 0, n, d],
        [n - 1, 0, 1, d],
        [Math.floor(n / 3), 0, Math.floor(n / 2), d], // across the row-wise boundary
        [3, 1, 5, d - 2], // cuts columns (across the column-wise boundary)
        [0, d - 1, n, 1],
        [7, 0, 0, d], // empty
      ];
      for (const [r0, c0, rows, cols] of blocks) {
        const got = await readRegion(reader, logical, shape, [r0, c0], [rows, cols]);
        const want = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) want.set(whole.subarray((r0 + r) * d + c0, (r0 + r) * d + c0 + cols), r * cols);
        expect([r0, c0, rows, cols, Buffer.from(got.buffer).equals(Buffer.from(want.buffer))]).toEqual([
          r0,
          c0,
          rows,
          cols,
          true,
        ]);
      }
      await expect(readRegion(reader, logical, shape, [n - 1, 0], [2, d])).rejects.toMatchObject({
        code: 'ERR_CHECKPOINT',
        message: expect.stringMatching(/lies outside/),
      });
    } finally {
      await reader.close();
    }
  });
});
