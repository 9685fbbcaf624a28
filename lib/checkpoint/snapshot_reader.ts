/**
 * Reads tensors out of a torchsnapshot snapshot as float32: plain `buffer_protocol` files, byte
 * ranges in `batched/` slabs (at any alignment), `torch_save` pieces, ChunkedTensor chunks and
 * ShardedTensor shards (merged over ranks and assembled), fp32/fp16/bf16/fp64. Every size, range and
 * tiling is checked against the manifest before a byte is trusted.
 *
 * Files are opened only inside the snapshot directory: the directory itself may be reached through
 * a symlink (that is the caller's choice of path), but a symlink *inside* it — a tensor file, or a
 * folder such as `0/model` — is refused rather than resolved and contained. torchsnapshot never
 * writes links, so one inside a snapshot is either an attack or a hand-assembled snapshot, and
 * refusing is simpler to state and to check than containment (realpath of every file must equal its
 * lexical path under the real root; O_NOFOLLOW covers the last component against a late swap).
 * Only regular files are opened, without blocking (fs_util.ts), so a FIFO cannot hang a restore.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { checkpointError, numel, shapeText, wrapIoError } from './checkpointable';
import { decodeFloats, Dtype, elementSize, isFloatDtype, parseTorchDtype } from './dtypes';
import { RangeReader, readRegularFile } from './fs_util';
import {
  availableEntries,
  Entry,
  isTensorLike,
  MAX_METADATA_BYTES,
  METADATA_FILE,
  parseMetadataOffThread,
  PrimitiveEntry,
  primitiveValue,
  Shard,
  SnapshotMetadata,
  TensorEntry,
  TensorLikeEntry,
} from './snapshot_manifest';
import { readArchiveTensor } from './state_dict';
import { TorchArchive } from './torch_zip';

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
}

export class SnapshotReader {
  private readonly files = new Map<string, Promise<RangeReader>>();
  /** Rank 0's entries by logical path (`model/embedding_bags.user.weight`). */
  readonly entries: Map<string, Entry>;

  private constructor(
    readonly dir: string,
    /** `dir` with every symlink resolved: files must lie under it by their lexical path. */
    private readonly root: string,
    readonly metadata: SnapshotMetadata,
  ) {
    this.entries = availableEntries(metadata.manifest, 0);
  }

  static async open(dir: string): Promise<SnapshotReader> {
    const file = path.join(dir, METADATA_FILE);
    const what = `${file} (no snapshot at ${dir}, or its save never completed)`;
    let root: string;
    try {
      root = await fsp.realpath(dir);
    } catch (e) {
      throw wrapIoError(e, what);
    }
    await checkInside(root, [METADATA_FILE], what);
    const bytes = await readRegularFile(path.join(root, METADATA_FILE), what, MAX_METADATA_BYTES, { noFollow: true });
    const text = bytes.toString('utf8');
    return new SnapshotReader(dir, root, await parseMetadataOffThread(text, file));
  }

  /** Where an entry is, for messages. */
  where(logical: string): string {
    return `${path.join(this.dir, METADATA_FILE)}: entry 0/${logical}`;
  }

  tensorEntry(logical: string): TensorLikeEntry | undefined {
    const e = this.entries.get(logical);
    return e && isTensorLike(e) ? e : undefined;
  }

  /** dtype and shape of a tensor entry, validated; a ShardedTensor's shape is its shards' extent. */
  info(logical: string): TensorInfo {
    const e = this.tensorEntry(logical);
    if (!e) throw checkpointError(`${this.where(logical)} is not a tensor`);
    const where = this.where(logical);
    if (e.type === 'ShardedTensor') {
      if (e.shards.length === 0) throw checkpointError(`${where}: a sharded tensor with no shard on any rank`);
      const dtypes = new Set(e.shards.map((s) => s.tensor.dtype));
      if (dtypes.size !== 1) throw checkpointError(`${where}: shards disagree on dtype (${[...dtypes].join(', ')})`);
      const nd = e.shards[0].sizes.length;
      const shape = new Array<number>(nd).fill(0);
      for (const s of e.shards) {
        if (s.sizes.length !== nd) throw checkpointError(`${where}: shards disagree on the number of dimensions`);
        s.sizes.forEach((sz, d) => (shape[d] = Math.max(shape[d], s.offsets[d] + sz)));
      }
      return { dtype: dtypeOf(e.shards[0].tensor.dtype, where), shape };
    }
    return { dtype: dtypeOf(e.dtype, where), shape: [...e.shape] };
  }

  primitive(logical: string): number | string | boolean | Uint8Array | undefined {
    const e = this.entries.get(logical);
    if (!e || !['int', 'float', 'str', 'bool', 'bytes'].includes(e.type)) return undefined;
    return primitiveValue(e as PrimitiveEntry, this.where(logical));
  }

  /** A float tensor entry, converted to float32 row-major; its shape must be `shape`. */
  async readFloat32(logical: string, shape: readonly number[], o: { codes?: boolean } = {}): Promise<Float32Array> {
    const where = this.where(logical);
    const e = this.tensorEntry(logical);
    if (!e) throw checkpointError(`${where} is not a tensor`);
    const info = this.info(logical);
    // o.codes: a quantized table's uint8 codes, read as their values (exact in float32).
    if (!isFloatDtype(info.dtype) && !(o.codes && info.dtype === 'uint8'))
      throw checkpointError(`${where} has dtype torch.${info.dtype}; weights need a floating-point dtype`);
    if (shapeText(info.shape) !== shapeText(shape)) {
      throw checkpointError(`${where} has shape ${shapeText(info.shape)}, expected ${shapeText(shape)}`);
    }
    const out = new Float32Array(numel(shape));
    if (e.type === 'Tensor') {
      await this.readPiece(
        e,
        where,
        out,
        shape,
        shape.map(() => 0),
        [...shape],
      );
      return out;
    }
    const pieces = e.type === 'ChunkedTensor' ? e.chunks : e.shards;
    checkTiling(pieces, shape, where);
    for (const [i, p] of pieces.entries()) {
      const pw = `${where} ${e.type === 'ChunkedTensor' ? 'chunk' : 'shard'} ${i} (offsets ${shapeText(p.offsets)})`;
      if (p.tensor.dtype !== `torch.${info.dtype}`)
        throw checkpointError(`${pw}: dtype ${p.tensor.dtype} differs from the tensor's`);
      await this.readPiece(p.tensor, pw, out, shape, p.offsets, p.sizes);
    }
    return out;
  }

  /** Bytes in the file at a manifest location (confined like every read; the file stays open for them). */
  async fileSize(location: string, where: string): Promise<number> {
    return (await this.open(await this.resolve(location, where), where)).size;
  }

  /**
   * An int64 tensor this library wrote (one buffer_protocol file: managed-id maps), with its shape;
   * anything else is ERR_CHECKPOINT naming the entry.
   */
  async readInt64(logical: string): Promise<{ data: BigInt64Array; shape: number[] }> {
    const where = this.where(logical);
    const e = this.tensorEntry(logical);
    if (!e || e.type !== 'Tensor') throw checkpointError(`${where} is not a single tensor`);
    const info = this.info(logical);
    if (info.dtype !== 'int64') throw checkpointError(`${where} has dtype torch.${info.dtype}, expected torch.int64`);
    if (e.serializer !== 'buffer_protocol')
      throw checkpointError(`${where}: serializer "${e.serializer}" is not buffer_protocol`);
    const n = numel(info.shape);
    const file = await this.resolve(e.location, where);
    const reader = await this.open(file, where);
    const bytes = n * 8;
    const [start, end] = e.byte_range ?? [0, reader.size];
    if (end - start !== bytes) {
      throw checkpointError(
        `${where}: ${file} holds ${end - start} bytes, but ${shapeText(info.shape)} int64 needs ${bytes}`,
      );
    }
    const data = new BigInt64Array(n);
    await reader.readInto(new Uint8Array(data.buffer), start, `${where} (${file})`);
    return { data, shape: [...info.shape] };
  }

  async close(): Promise<void> {
    const readers = await Promise.allSettled(this.files.values());
    this.files.clear();
    for (const r of readers) if (r.status === 'fulfilled') await r.value.close();
  }

  /** Reads one stored tensor into the [offsets, offsets + sizes) block of `out` (row-major `shape`). */
  async readPiece(
    t: TensorEntry,
    where: string,
    out: Float32Array,
    shape: readonly number[],
    offsets: readonly number[],
    sizes: readonly number[],
  ): Promise<void> {
    const dtype = dtypeOf(t.dtype, where);
    if (shapeText(t.shape) !== shapeText(sizes)) {
      throw checkpointError(
        `${where}: stored shape ${shapeText(t.shape)} differs from its block size ${shapeText(sizes)}`,
      );
    }
    const file = await this.resolve(t.location, where);
    const n = numel(sizes);
    // Row blocks that span whole rows are one contiguous run of `out`: decode straight into it.
    const direct = sizes.every((s, d) => d === 0 || (offsets[d] === 0 && s === shape[d]));
    const target = direct
      ? out.subarray(offsets[0] * rowSize(shape), offsets[0] * rowSize(shape) + n)
      : new Float32Array(n);
    if (t.serializer === 'torch_save') {
      const archive = await TorchArchive.open(file, { noFollow: true });
      try {
        target.set(await readArchiveTensor(archive, sizes, where));
      } finally {
        archive.close();
      }
    } else if (t.serializer === 'buffer_protocol') {
      await this.readRaw(file, t, dtype, n, target, where);
    } else {
      throw checkpointError(`${where}: unknown serializer "${t.serializer}" (expected buffer_protocol or torch_save)`);
    }
    if (!direct) copyBlock(target, sizes, out, shape, offsets);
  }

  private async readRaw(
    file: string,
    t: TensorEntry,
    dtype: Dtype,
    n: number,
    target: Float32Array,
    where: string,
  ): Promise<void> {
    const bytes = n * elementSize(dtype);
    const reader = await this.open(file, where);
    let start = 0;
    if (t.byte_range) {
      const [a, b] = t.byte_range;
      if (b - a !== bytes) {
        throw checkpointError(
          `${where}: byte_range [${a}, ${b}] holds ${b - a} bytes, but ${shapeText(t.shape)} ${t.dtype} needs ${bytes}`,
        );
      }
      start = a;
    } else if (reader.size !== bytes) {
      throw checkpointError(
        `${where}: ${file} holds ${reader.size} bytes, but ${shapeText(t.shape)} ${t.dtype} needs ${bytes}` +
          (reader.size < bytes ? ' (truncated)' : ''),
      );
    }
    if (dtype === 'float32') {
      // Same bytes as the destination: read in place, no staging copy.
      await reader.readInto(new Uint8Array(target.buffer, target.byteOffset, bytes), start, `${where} (${file})`);
      return;
    }
    const raw = new Uint8Array(bytes);
    await reader.readInto(raw, start, `${where} (${file})`);
    decodeFloats(raw, dtype, n, target, 0);
  }

  private open(file: string, where: string): Promise<RangeReader> {
    let r = this.files.get(file);
    if (!r) {
      r = RangeReader.open(file, `${where}: file ${file} named by the manifest`, { noFollow: true });
      this.files.set(file, r);
    }
    return r;
  }

  /** A manifest location, confined to the snapshot directory (no `..`, no symlinks; see the file comment). */
  async resolve(location: string, where: string): Promise<string> {
    const parts = location.split('/');
    if (path.isAbsolute(location) || parts.some((p) => p === '..' || p === '' || p === '.')) {
      throw checkpointError(`${where}: location "${location}" is not a path inside the snapshot`);
    }
    await checkInside(this.root, parts, `${where}: location "${location}"`);
    return path.join(this.root, ...parts);
  }
}

/** `root/parts` must exist with no symlink on the way (root itself is already real). */
async function checkInside(root: string, parts: readonly string[], what: string): Promise<void> {
  const lexical = path.join(root, ...parts);
  let real: string;
  try {
    real = await fsp.realpath(lexical);
  } catch (e) {
    throw wrapIoError(e, `${what}: ${lexical}`);
  }
  if (real !== lexical) {
    throw checkpointError(
      `${what}: ${lexical} is, or lies under, a symbolic link (it resolves to ${real}); ` +
        'links inside a snapshot are refused',
    );
  }
}

function dtypeOf(s: string, where: string): Dtype {
  const d = parseTorchDtype(s);
  if (!d) throw checkpointError(`${where}: unknown dtype "${s}" (torchsnapshot spells them like torch.float32)`);
  return d;
}

function rowSize(shape: readonly number[]): number {
  return numel(shape.slice(1));
}

/** Chunks/shards must lie inside the tensor, not overlap, and cover it. */
export function checkTiling(pieces: readonly Shard[], shape: readonly number[], where: string): void {
  let covered = 0;
  pieces.forEach((p, i) => {
    if (p.offsets.length !== shape.length || p.offsets.some((o, d) => o + p.sizes[d] > shape[d])) {
      throw checkpointError(
        `${where}: piece ${i} (offsets ${shapeText(p.offsets)}, sizes ${shapeText(p.sizes)}) lies outside ${shapeText(shape)}`,
      );
    }
    covered += numel(p.sizes);
    for (let j = 0; j < i; j++) {
      const q = pieces[j];
      const overlap = p.offsets.every((o, d) => o < q.offsets[d] + q.sizes[d] && q.offsets[d] < o + p.sizes[d]);
      if (overlap && numel(p.sizes) > 0 && numel(q.sizes) > 0)
        throw checkpointError(`${where}: pieces ${j} and ${i} overlap`);
    }
  });
  if (covered !== numel(shape)) {
    throw checkpointError(
      `${where}: the pieces cover ${covered} of ${numel(shape)} elements; some of the tensor is missing`,
    );
  }
}

/** Copies a dense block (row-major `sizes`) into `out` (row-major `shape`) at `offsets`. */
function copyBlock(
  block: Float32Array,
  sizes: readonly number[],
  out: Float32Array,
  shape: readonly number[],
  offsets: readonly number[],
): void {
  const nd = shape.length;
  const inner = sizes[nd - 1];
  const outer = numel(sizes.slice(0, -1));
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  for (let r = 0; r < outer; r++) {
    let dst = 0;
    for (let d = 0; d < nd; d++) dst = dst * shape[d] + offsets[d] + (d < nd - 1 ? idx[d] : 0);
    out.set(block.subarray(r * inner, (r + 1) * inner), dst);
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < sizes[d]) break;
      idx[d] = 0;
    }
  }
}
