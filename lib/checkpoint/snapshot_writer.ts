/**
 * Writes a snapshot in torchsnapshot's layout into a (temporary) directory: each tensor as raw
 * little-endian bytes (`buffer_protocol`) in its own file at `<rank>/<logical path>`, primitives
 * inline, container entries so that torchsnapshot's `restore` can rebuild the state dicts, and
 * `.snapshot_metadata` last — its presence is what marks the directory complete.
 */
import * as path from 'path';
import { types } from 'util';
import { checkpointError, numel } from './checkpointable';
import { elementSize, encodeFloats, torchDtypeName } from './dtypes';
import { byteChunks, fsyncPath, IO_CHUNK_BYTES, writeChunks } from './fs_util';
import {
  ContainerEntry,
  Entry,
  METADATA_FILE,
  PrimitiveEntry,
  SNAPSHOT_VERSION,
  TensorEntry,
} from './snapshot_manifest';

export class SnapshotWriter {
  private readonly containers = new Map<string, ContainerEntry>();
  private readonly leaves = new Map<string, Entry>();

  constructor(readonly dir: string) {}

  /** A dict / OrderedDict (with its keys in order) or list at manifest path `p`. */
  container(p: string, type: ContainerEntry['type'], keys?: (string | number)[]): void {
    this.containers.set(p, type === 'list' ? { type } : { type, keys: keys ?? [] });
  }

  primitive(p: string, e: PrimitiveEntry): void {
    this.leaves.set(p, e);
  }

  /**
   * Writes `data` as a `dtype` tensor of `shape` at manifest path `p`, fsync'd: float32 values
   * (narrowed for float16), or a float16 table's own bits (a Uint16Array), written as they are.
   */
  async tensor(
    p: string,
    data: Float32Array | Uint16Array | Uint8Array,
    dtype: 'float32' | 'float16' | 'uint8',
    shape: number[],
  ): Promise<void> {
    if (data.length !== numel(shape)) {
      throw checkpointError(`${p}: ${data.length} values for shape [${shape.join(', ')}]`);
    }
    const file = path.join(this.dir, ...p.split('/'));
    const written = await writeChunks(file, encodedChunks(data, dtype));
    if (written !== data.length * elementSize(dtype)) throw checkpointError(`${file}: short write`);
    const entry: TensorEntry = {
      type: 'Tensor',
      location: p,
      serializer: 'buffer_protocol',
      dtype: torchDtypeName(dtype),
      shape,
      replicated: false,
      byte_range: null,
    };
    this.leaves.set(p, entry);
  }

  /** Writes int64 `data` of `shape` at `p` (managed-id maps: checkpoint/managed_ids.ts), fsync'd. */
  async int64Tensor(p: string, data: BigInt64Array, shape: number[]): Promise<void> {
    if (data.length !== numel(shape)) {
      throw checkpointError(`${p}: ${data.length} values for shape [${shape.join(', ')}]`);
    }
    const file = path.join(this.dir, ...p.split('/'));
    const written = await writeChunks(file, byteChunks(data));
    if (written !== data.byteLength) throw checkpointError(`${file}: short write`);
    this.leaves.set(p, {
      type: 'Tensor',
      location: p,
      serializer: 'buffer_protocol',
      dtype: torchDtypeName('int64'),
      shape,
      replicated: false,
      byte_range: null,
    });
  }

  /** Writes `.snapshot_metadata` (containers first, as torchsnapshot does) and syncs the tree. */
  async finish(): Promise<void> {
    const manifest: Record<string, Entry> = {};
    for (const [p, e] of this.containers) manifest[p] = e;
    for (const [p, e] of this.leaves) manifest[p] = e;
    const text = JSON.stringify({ version: SNAPSHOT_VERSION, world_size: 1, manifest }, null, 2);
    await writeChunks(path.join(this.dir, METADATA_FILE), [Buffer.from(text, 'utf8')]);
    // Directory entries of the data files and of the metadata must be durable before the rename.
    const dirs = new Set<string>([this.dir]);
    for (const p of this.leaves.keys()) {
      for (
        let d = path.dirname(path.join(this.dir, ...p.split('/')));
        d.startsWith(this.dir + path.sep);
        d = path.dirname(d)
      ) {
        dirs.add(d);
      }
    }
    for (const d of dirs) await fsyncPath(d);
  }
}

/** fp16 is converted a chunk at a time, so a big table never needs a second full-size copy. */
function* encodedChunks(
  data: Float32Array | Uint16Array | Uint8Array,
  dtype: 'float32' | 'float16' | 'uint8',
): Iterable<Uint8Array> {
  if (types.isUint8Array(data) || dtype === 'uint8') {
    // A quantized table's codes (or its fp16 scale / bias bytes): written as they are.
    if (!types.isUint8Array(data) || dtype !== 'uint8') throw checkpointError(`only uint8 codes are written as uint8`);
    yield* byteChunks(data);
    return;
  }
  // types.isUint16Array, not instanceof: the addon's arrays may come from another realm (jest, vm).
  if (types.isUint16Array(data)) {
    if (dtype !== 'float16') throw checkpointError(`fp16 bits cannot be written as ${dtype}`);
    yield* byteChunks(data);
    return;
  }
  if (dtype === 'float32') {
    yield* byteChunks(data);
    return;
  }
  if (types.isUint8Array(data)) throw checkpointError('internal: bytes in encodedChunks');
  const step = IO_CHUNK_BYTES / 2;
  for (let off = 0; off < data.length; off += step) yield encodeFloats(data.subarray(off, off + step), 'float16');
}
