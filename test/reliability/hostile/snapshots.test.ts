/**
 * Hostile snapshots: symlinks that lead outside the snapshot, FIFOs where tensors should be,
 * optimizer state the optimizer's math cannot take, a full disk on save, and a manifest big enough
 * to block the event loop. Loads run in a child process (children/hostile_load.js).
 */
import { execFileSync } from 'child_process';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { stringify as toYaml } from 'yaml';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../../lib';
import { testIf } from '../../helpers/skip';
import {
  editManifest,
  expectRefused,
  f32,
  hostile,
  Manifest,
  savedSnapshot,
  TABLE,
  tmpDir,
  WEIGHT_PATH,
} from './helpers';

const TABLES = [TABLE];
const N = TABLE.num_embeddings * TABLE.embedding_dim;
const mkfifo = (p: string): void => void execFileSync('mkfifo', [p]);

let dir: string;
let outside: string;
beforeAll(async () => {
  dir = await tmpDir('snap');
  // Bytes outside every snapshot that must never load as weights.
  outside = path.join(dir, 'outside.bin');
  await fsp.writeFile(outside, f32(new Float32Array(N).fill(666)));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

// Modules with an optimizer first train two steps, so that their state and step are not all zero.
const restore = (snap: string, tables: object[] = TABLES): ReturnType<typeof hostile> =>
  hostile({ op: 'restoreSnapshot', path: snap, tables, trainSteps: 'optimizer' in tables[0] ? 2 : 0 });

describe('symlinks inside a snapshot are refused, in restoreSnapshot and pretrained', () => {
  test('a tensor file that links outside the snapshot', async () => {
    const snap = await savedSnapshot(path.join(dir, 'link_file'));
    const weight = path.join(snap, ...WEIGHT_PATH.split('/'));
    await fsp.rm(weight);
    await fsp.symlink(outside, weight);
    expectRefused(await restore(snap), 'ERR_CHECKPOINT', 'links inside a snapshot are refused');
    const pretrained = { emb_name: 't', embedding_snapshot_uri: snap };
    expectRefused(
      await hostile({ op: 'pretrained', tables: [{ ...TABLE, pretrained }] }),
      'ERR_CHECKPOINT',
      'links inside a snapshot are refused',
    );
  });

  test('a linked 0/model folder', async () => {
    const snap = await savedSnapshot(path.join(dir, 'link_dir'));
    const elsewhere = path.join(dir, 'elsewhere_model');
    await fsp.rename(path.join(snap, '0', 'model'), elsewhere);
    await fsp.symlink(elsewhere, path.join(snap, '0', 'model'));
    expectRefused(await restore(snap), 'ERR_CHECKPOINT', 'lies under, a symbolic link');
  });

  test('the snapshot directory itself may be reached through a link (the caller chose that path)', async () => {
    const snap = await savedSnapshot(path.join(dir, 'real_root'));
    const link = path.join(dir, 'latest');
    await fsp.symlink(snap, link);
    const ebc = new EmbeddingBagCollection({ tables: TABLES, seed: 1 });
    await ebc.restoreSnapshot(link);
    expect(Array.from(ebc.getWeights('t').subarray(0, 3))).toEqual([0, 0.01, 0.02].map((x) => Math.fround(x)));
    ebc.dispose();
  });
});

describe('FIFOs never hang a restore', () => {
  test('a FIFO at a tensor location is refused at once', async () => {
    const snap = await savedSnapshot(path.join(dir, 'fifo'));
    const weight = path.join(snap, ...WEIGHT_PATH.split('/'));
    await fsp.rm(weight);
    mkfifo(weight);
    expectRefused(await restore(snap), 'ERR_CHECKPOINT', 'is a FIFO, not a regular file');
  });

  test('four FIFO snapshots restored at once leave forward working (they once took every pool thread)', async () => {
    const snaps: string[] = [];
    for (let i = 0; i < 4; i++) {
      const snap = await savedSnapshot(path.join(dir, `fifo4_${i}`));
      const weight = path.join(snap, ...WEIGHT_PATH.split('/'));
      await fsp.rm(weight);
      mkfifo(weight);
      snaps.push(snap);
    }
    const r = await hostile({ op: 'restoresThenForward', paths: snaps, tables: TABLES });
    expectRefused(r, 'ERR_CHECKPOINT', 'FIFO');
    expect(r.extra).toEqual({ codes: Array(4).fill('ERR_CHECKPOINT'), width: TABLE.embedding_dim });
  });

  test('a FIFO as .snapshot_metadata is refused', async () => {
    const snap = await savedSnapshot(path.join(dir, 'fifo_meta'));
    await fsp.rm(path.join(snap, '.snapshot_metadata'));
    mkfifo(path.join(snap, '.snapshot_metadata'));
    expectRefused(await restore(snap), 'ERR_CHECKPOINT', 'is a FIFO');
  });
});

describe('optimizer state is checked before anything changes', () => {
  const ADAM = [{ ...TABLE, optimizer: { adam: { lr: 0.01 } } }];
  const ADAGRAD = [{ ...TABLE, optimizer: { adagrad: { lr: 0.1 } } }];

  test('non-finite state (Adam momentum2 = +Inf after a huge gradient) is neither saved nor restored', async () => {
    const ebc = new EmbeddingBagCollection({ tables: ADAM, seed: 5 });
    const snap = path.join(dir, 'adam_inf');
    await ebc.saveSnapshot(snap);
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1], lengths: [1] });
    await ebc.backward(kjt, new Float32Array(TABLE.embedding_dim).fill(1e30));
    expect(ebc.optimizerState('t').momentum2).toContain(Infinity);
    // Training has diverged: the save says so instead of writing a snapshot no restore would take.
    await expect(ebc.saveSnapshot(snap)).rejects.toMatchObject({
      code: 'ERR_NON_FINITE',
      message: expect.stringContaining('momentum2 of table t: element 4 is not finite'),
    });
    ebc.dispose();
    // A snapshot edited to hold Inf (by another tool, say) is refused by the restore, weights untouched.
    let location = '';
    await editManifest(snap, (m: Manifest) => {
      location = Object.entries(m).find(([p, e]) => p.endsWith('momentum2') && e.type === 'Tensor')![1]
        .location as string;
    });
    const inf = new Float32Array(N);
    inf[4] = Infinity;
    await fsp.writeFile(path.join(snap, ...location.split('/')), f32(inf));
    expectRefused(await restore(snap, ADAM), 'ERR_CHECKPOINT', 'momentum2 of table t: element 4 is not finite');
  });

  test('a negative Adagrad momentum1 is refused (the weights became -Inf one step later)', async () => {
    const ebc = new EmbeddingBagCollection({ tables: ADAGRAD, seed: 5 });
    const snap = path.join(dir, 'adagrad_negative');
    await ebc.saveSnapshot(snap);
    ebc.dispose();
    let location = '';
    await editManifest(snap, (m: Manifest) => {
      location = Object.entries(m).find(([p, e]) => p.endsWith('momentum1') && e.type === 'Tensor')![1]
        .location as string;
    });
    await fsp.writeFile(path.join(snap, ...location.split('/')), f32(new Float32Array(N).fill(-1)));
    expectRefused(await restore(snap, ADAGRAD), 'ERR_CHECKPOINT', 'must be >= 0');
  });
});

describe('saving', () => {
  const root = process.getuid?.() === 0;
  testIf(
    root,
    'a full disk (ENOSPC) on saveSnapshot is an ERR_CHECKPOINT',
    'needs root to mount a 1 MiB tmpfs',
    async () => {
      const mnt = path.join(dir, 'full');
      await fsp.mkdir(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      try {
        const tables = [{ name: 't', num_embeddings: 1000, embedding_dim: 512 }]; // 2 MB of weights
        expectRefused(
          await hostile({ op: 'saveSnapshot', path: path.join(mnt, 'snap'), tables }),
          'ERR_CHECKPOINT',
          'ENOSPC',
          'saving a snapshot to',
        );
      } finally {
        execFileSync('umount', [mnt]);
      }
    },
  );
});

describe('big manifests', () => {
  test('a 3 MB YAML manifest is parsed off the event loop (4.4 s of blocking for 2.3 MB before)', async () => {
    const snap = await savedSnapshot(path.join(dir, 'yaml_big'));
    const file = path.join(snap, '.snapshot_metadata');
    const meta = JSON.parse(await fsp.readFile(file, 'utf8')) as { manifest: Manifest };
    for (let i = 0; i < 30_000; i++) {
      meta.manifest[`0/padding/entry_${i}`] = {
        type: 'str',
        serialized_value: `v${i}`,
        replicated: false,
        readable: null,
      };
    }
    const yaml = toYaml(meta);
    expect(yaml.length).toBeGreaterThan(2_500_000);
    expect(() => JSON.parse(yaml)).toThrow();
    await fsp.writeFile(file, yaml);
    const r = await hostile({ op: 'eventLoopDuringRestore', path: snap, tables: TABLES });
    expect({ threw: r.threw, message: r.message }).toEqual({ threw: false, message: undefined });
    // Hang detection only, with a wide margin: the parse itself takes seconds, on another thread.
    expect((r.extra as { maxGapMs: number }).maxGapMs).toBeLessThan(1500);
  });
});
