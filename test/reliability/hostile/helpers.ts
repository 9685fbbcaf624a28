/**
 * Builders for hostile files (raw pickles, torch.save zips with chosen compression, tampered
 * snapshots) and the runner that loads each one in a child process (children/hostile_load.js),
 * where a crash is a signal, a hang a timeout and memory the child's own peak RSS.
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EmbeddingBagCollection } from '../../../lib';
import { yazl } from '../../../lib/checkpoint/zip';
import { runChild } from '../../helpers/reliability';

/** What children/hostile_load.js reports. */
export interface HostileReport {
  threw: boolean;
  name?: string;
  code?: string;
  message?: string;
  ms: number;
  growthKb: number;
  unchanged?: boolean;
  extra?: Record<string, unknown>;
}

/** Generous bounds: hang and blow-up detection, never timing. */
export const HANG_MS = 60_000;
/** Peak RSS growth allowed for refusing a hostile file (the blow-ups this guards against were > 1 GB). */
export const MAX_GROWTH_KB = 300 * 1024;

/** Runs one hostile load in a child; the child must exit normally and report. */
export async function hostile(spec: Record<string, unknown>, timeoutMs = HANG_MS): Promise<HostileReport> {
  const r = await runChild('hostile_load.js', [JSON.stringify(spec)], { timeoutMs });
  expect({ code: r.code, signal: r.signal, stderr: r.code === 0 ? '' : r.stderr }).toEqual({
    code: 0,
    signal: null,
    stderr: '',
  });
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as HostileReport;
}

/** A refusal: a TorchrecError with `code`, naming what was wrong, in bounded memory, module untouched. */
export function expectRefused(r: HostileReport, code: string, ...mentions: (string | RegExp)[]): void {
  expect({ threw: r.threw, name: r.name, code: r.code }).toEqual({ threw: true, name: 'TorchrecError', code });
  for (const m of mentions) {
    if (typeof m === 'string') expect(r.message).toContain(m);
    else expect(r.message).toMatch(m);
  }
  expect(r.growthKb).toBeLessThan(MAX_GROWTH_KB);
  if (r.unchanged !== undefined) expect(r.unchanged).toBe(true);
}

export async function tmpDir(tag: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `torchrec-hostile-${tag}-`));
}

export const TABLE = { name: 't', num_embeddings: 8, embedding_dim: 4 };

// ---- pickles ------------------------------------------------------------------------------------

const op = (...bytes: number[]): Buffer => Buffer.from(bytes);

export function pyStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return Buffer.concat([op(0x58), len, b]); // BINUNICODE
}

export function pyInt(n: number): Buffer {
  if (n >= 0 && n < 2 ** 31) {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(10);
  b[0] = 0x8a; // LONG1, 8 bytes
  b[1] = 8;
  b.writeBigInt64LE(BigInt(n), 2);
  return b;
}

function pyTuple(items: Buffer[]): Buffer {
  return Buffer.concat([op(0x28), ...items, op(0x74)]); // MARK ... TUPLE
}

const GLOBAL = (module: string, name: string): Buffer => Buffer.from(`c${module}\n${name}\n`, 'latin1');

export interface ViewSpec {
  key: string;
  storageKey: string;
  storageClass?: string; // FloatStorage, HalfStorage...
  numel: number;
  offset?: number;
  size: number[];
  stride?: number[];
}

/** A protocol-2 pickle of {key: _rebuild_tensor_v2(storage, offset, size, stride, False, None)}. */
export function stateDictPickle(views: ViewSpec[]): Buffer {
  const parts: Buffer[] = [op(0x80, 0x02), op(0x7d)]; // PROTO 2, EMPTY_DICT
  for (const v of views) {
    const stride = v.stride ?? v.size.map((_, i) => v.size.slice(i + 1).reduce((a, b) => a * b, 1));
    const pid = pyTuple([
      pyStr('storage'),
      GLOBAL('torch', v.storageClass ?? 'FloatStorage'),
      pyStr(v.storageKey),
      pyStr('cpu'),
      pyInt(v.numel),
    ]);
    const args = pyTuple([
      Buffer.concat([pid, op(0x51)]), // BINPERSID
      pyInt(v.offset ?? 0),
      pyTuple(v.size.map(pyInt)),
      pyTuple(stride.map(pyInt)),
      op(0x89), // NEWFALSE
      op(0x4e), // NONE
    ]);
    parts.push(pyStr(v.key), GLOBAL('torch._utils', '_rebuild_tensor_v2'), args, op(0x52), op(0x73)); // REDUCE SETITEM
  }
  parts.push(op(0x2e)); // STOP
  return Buffer.concat(parts);
}

// ---- zips ---------------------------------------------------------------------------------------

export interface ZipRecord {
  name: string;
  data: Buffer;
  compress?: boolean;
}

/** A torch.save-shaped zip (`archive/...` records), each record stored or deflated as asked. */
export async function writeZip(file: string, records: ZipRecord[]): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const r of records) zip.addBuffer(r.data, `archive/${r.name}`, { compress: r.compress ?? false });
  zip.addBuffer(Buffer.from('3\n'), 'archive/version', { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  await fsp.writeFile(file, Buffer.concat(chunks));
  return file;
}

/** Float32 little-endian bytes. */
export function f32(values: number[] | Float32Array): Buffer {
  const a = Float32Array.from(values);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

// ---- snapshots ----------------------------------------------------------------------------------

/** A real snapshot of a small EBC (weights 0..N*D-1 / 100), saved by the library itself. */
export async function savedSnapshot(dir: string, tables = [TABLE]): Promise<string> {
  const ebc = new EmbeddingBagCollection({ tables, seed: 3 });
  for (const t of tables) {
    ebc.setWeights(
      t.name,
      Float32Array.from({ length: t.num_embeddings * t.embedding_dim }, (_, i) => i / 100),
    );
  }
  await ebc.saveSnapshot(dir);
  ebc.dispose();
  return dir;
}

export type Manifest = Record<string, Record<string, unknown>>;

/** Rewrites `.snapshot_metadata` (JSON, as the library writes it) through `edit`. */
export async function editManifest(dir: string, edit: (m: Manifest) => void): Promise<void> {
  const file = path.join(dir, '.snapshot_metadata');
  const meta = JSON.parse(await fsp.readFile(file, 'utf8')) as { manifest: Manifest };
  edit(meta.manifest);
  await fsp.writeFile(file, JSON.stringify(meta));
}

export const WEIGHT_PATH = '0/model/embedding_bags.t.weight';
