/**
 * Hostile torch.save files: pickle bombs, compressed and forged records, storages read under two
 * dtypes. Each is loaded in a child process (loadStateDict, and through a snapshot's torch_save entry
 * and `pretrained`), which must exit normally with an ERR_CHECKPOINT, in bounded memory, with the
 * module unchanged.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { MAX_PICKLE_BYTES, MAX_PICKLE_MEMO, MAX_PICKLE_STACK, unpickle } from '../../../lib/checkpoint/pickle_reader';
import {
  editManifest,
  expectRefused,
  HostileReport,
  f32,
  hostile,
  pyStr,
  savedSnapshot,
  stateDictPickle,
  TABLE,
  tmpDir,
  WEIGHT_PATH,
  writeZip,
} from './helpers';

const TABLES = [TABLE];
const KEY = 'embedding_bags.t.weight';
const NONE = 0x4e;
const STOP = 0x2e;

/** PROTO 2, `count` copies of `fill`, then `tail`. */
function bomb(count: number, fill: number, head: number[] = [], tail: number[] = [STOP]): Buffer {
  const b = Buffer.alloc(2 + head.length + count + tail.length, fill);
  b[0] = 0x80;
  b[1] = 0x02;
  Buffer.from(head).copy(b, 2);
  Buffer.from(tail).copy(b, 2 + head.length + count);
  return b;
}

let dir: string;
beforeAll(async () => {
  dir = await tmpDir('pickle');
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const load = (file: string): Promise<HostileReport> => hostile({ op: 'loadStateDict', path: file, tables: TABLES });

/** Sets the sizes of record `name` in the zip's central directory (what yauzl reads) to `size`. */
async function forgeRecordSize(file: string, name: string, size: number): Promise<void> {
  const zip = await fsp.readFile(file);
  const at = zip.indexOf(Buffer.concat([Buffer.from([0x50, 0x4b, 0x01, 0x02])]), 0);
  for (let p = at; p >= 0; p = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), p + 4)) {
    const nameLength = zip.readUInt16LE(p + 28);
    if (zip.toString('latin1', p + 46, p + 46 + nameLength) === name) {
      zip.writeUInt32LE(size, p + 20); // compressed size
      zip.writeUInt32LE(size, p + 24); // uncompressed size
      await fsp.writeFile(file, zip);
      return;
    }
  }
  throw new Error(`no central directory entry ${name}`);
}

describe('pickle bombs never crash the process', () => {
  test('a deflated data.pkl of 180M NONE opcodes (171 KiB) is refused as compressed, never inflated', async () => {
    const file = await writeZip(path.join(dir, 'none_deflated.pt'), [
      { name: 'data.pkl', data: bomb(180_000_000, NONE), compress: true },
    ]);
    expect((await fsp.stat(file)).size).toBeLessThan(1024 * 1024);
    expectRefused(await load(file), 'ERR_CHECKPOINT', 'data.pkl is compressed', 'torch.save');
  }, 120_000);

  test('a stored data.pkl of 30M NONE opcodes stops at the stack bound', async () => {
    const file = await writeZip(path.join(dir, 'none_stored.pt'), [{ name: 'data.pkl', data: bomb(30_000_000, NONE) }]);
    expectRefused(await load(file), 'ERR_CHECKPOINT', `more than ${MAX_PICKLE_STACK} items on the pickle stack`);
  });

  test('20M MEMOIZE opcodes stop at the memo bound (was a RangeError after 12 s and 1.1 GB)', async () => {
    const file = await writeZip(path.join(dir, 'memo.pt'), [
      { name: 'data.pkl', data: bomb(20_000_000, 0x94, [NONE]) },
    ]);
    expectRefused(await load(file), 'ERR_CHECKPOINT', `more than ${MAX_PICKLE_MEMO} memo entries`);
  });

  test('a data.pkl larger than any state dict needs is refused before it is read', async () => {
    const file = await writeZip(path.join(dir, 'big.pt'), [{ name: 'data.pkl', data: bomb(MAX_PICKLE_BYTES, NONE) }]);
    expectRefused(await load(file), 'ERR_CHECKPOINT', /data\.pkl is \d+ bytes, more than/);
  });

  test('APPENDS of 900k items (a call-stack overflow when spread) ends as "not a state dict"', async () => {
    const file = await writeZip(path.join(dir, 'appends.pt'), [
      { name: 'data.pkl', data: bomb(900_000, NONE, [0x5d, 0x28], [0x65, STOP]) }, // EMPTY_LIST MARK ... APPENDS
    ]);
    expectRefused(await load(file), 'ERR_CHECKPOINT', 'is not a state dict');
  });

  test('the NONE bomb through a snapshot torch_save entry and through pretrained is refused too', async () => {
    const snap = await savedSnapshot(path.join(dir, 'snap_bomb'));
    await writeZip(path.join(snap, '0', 'model', 'bomb.pt'), [
      { name: 'data.pkl', data: bomb(30_000_000, NONE), compress: true },
    ]);
    await editManifest(snap, (m) => {
      m[WEIGHT_PATH] = { ...m[WEIGHT_PATH], serializer: 'torch_save', location: '0/model/bomb.pt' };
    });
    expectRefused(
      await hostile({ op: 'restoreSnapshot', path: snap, tables: TABLES }),
      'ERR_CHECKPOINT',
      'is compressed',
    );
    const pretrained = { emb_name: 't', embedding_snapshot_uri: snap };
    expectRefused(
      await hostile({ op: 'pretrained', tables: [{ ...TABLE, pretrained }] }),
      'ERR_CHECKPOINT',
      'is compressed',
    );
  }, 90_000);
});

describe('records are read only as far as the file and the view reach', () => {
  test('a deflated 512 MiB storage behind an 8×4 view is refused (was 1.26 GB peak)', async () => {
    const file = await writeZip(path.join(dir, 'deflated_storage.pt'), [
      { name: 'data.pkl', data: stateDictPickle([{ key: KEY, storageKey: '0', numel: 128 * 2 ** 20, size: [8, 4] }]) },
      { name: 'data/0', data: Buffer.alloc(512 * 2 ** 20), compress: true },
    ]);
    expect((await fsp.stat(file)).size).toBeLessThan(1024 * 1024);
    expectRefused(await load(file), 'ERR_CHECKPOINT', 'data/0 is compressed');
  }, 120_000);

  test('a stored 64 MiB storage behind an 8×4 view at its end loads by reading only that span', async () => {
    const numel = 16 * 2 ** 20;
    const storage = Buffer.alloc(numel * 4);
    const want = Float32Array.from({ length: 32 }, (_, i) => i + 0.5);
    f32(want).copy(storage, (numel - 32) * 4);
    const file = await writeZip(path.join(dir, 'tail_view.pt'), [
      {
        name: 'data.pkl',
        data: stateDictPickle([{ key: KEY, storageKey: '0', numel, offset: numel - 32, size: [8, 4] }]),
      },
      { name: 'data/0', data: storage },
    ]);
    const r = await load(file);
    expect({ threw: r.threw, message: r.message }).toEqual({ threw: false, message: undefined });
    // The storage is 64 MiB; reading it whole (plus its float copy) would grow the peak by > 128 MiB.
    expect(r.growthKb).toBeLessThan(48 * 1024);
    expect(r.unchanged).toBe(false);
  });

  test('a record claiming more bytes than the archive holds is refused before anything is sized by it', async () => {
    // Pickle and central directory agree on a 2 GiB storage; the file holds 128 bytes of it.
    const numel = 2 ** 29;
    const file = await writeZip(path.join(dir, 'forged_size.pt'), [
      {
        name: 'data.pkl',
        data: stateDictPickle([{ key: KEY, storageKey: '0', numel, offset: numel - 32, size: [8, 4] }]),
      },
      { name: 'data/0', data: f32(new Float32Array(32)) },
    ]);
    await forgeRecordSize(file, 'archive/data/0', numel * 4);
    expectRefused(await load(file), 'ERR_CHECKPOINT', `claims ${numel * 4} bytes, but the whole archive has`);
  });

  test('one storage viewed as float and as half is refused (it decoded to an all-zero table)', async () => {
    const tables = [TABLE, { name: 'u', num_embeddings: 16, embedding_dim: 4 }];
    const file = await writeZip(path.join(dir, 'two_dtypes.pt'), [
      {
        name: 'data.pkl',
        data: stateDictPickle([
          { key: KEY, storageKey: '0', numel: 32, size: [8, 4] },
          { key: 'embedding_bags.u.weight', storageKey: '0', storageClass: 'HalfStorage', numel: 64, size: [16, 4] },
        ]),
      },
      { name: 'data/0', data: f32(Float32Array.from({ length: 32 }, (_, i) => i)) },
    ]);
    expectRefused(
      await hostile({ op: 'loadStateDict', path: file, tables }),
      'ERR_CHECKPOINT',
      'a storage has one dtype and size',
    );
  });
});

describe('pickle messages', () => {
  test('a BINUNICODE length past the end of data.pkl is truncation, not invalid UTF-8', () => {
    const s = pyStr('hello');
    s.writeUInt32LE(1000, 1);
    const pkl = Buffer.concat([Buffer.from([0x80, 0x02]), s]);
    expect(() => unpickle(pkl, 'short.pkl')).toThrow(/short\.pkl: truncated pickle/);
  });
});
