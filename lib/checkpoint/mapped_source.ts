/**
 * Where a table's stored bytes can be used in place by a memory-mapped restore (DESIGN "Serving"):
 * a torchsnapshot `buffer_protocol` tensor (a whole file, or a byte range of a `batched/` slab) or a
 * torch.save record, stored uncompressed, in the table's own dtype, row-major, at an offset aligned
 * to the element size. Anything else — ChunkedTensor/ShardedTensor pieces, `torch_save` pieces,
 * another dtype, a strided view, an unaligned offset — is `undefined`: the caller reads that table
 * into memory instead and tableStorage() says 'memory'. The core re-checks dtype, alignment and
 * bounds against the mapped file itself before using a byte (the file may change in between).
 */
import { promises as fsp } from 'fs';
import type { NativeMappedSource } from '../native';
import { checkpointError, numel, shapeText, TableDtype, wrapIoError } from './checkpointable';
import { Dtype, elementSize } from './dtypes';
import { TensorRef } from './pickle_reader';
import { SnapshotReader } from './snapshot_reader';
import { TorchArchive } from './torch_zip';

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;

/** The mappable source of a snapshot tensor entry already checked against the table's shape and dtype. */
export async function snapshotMappedSource(
  reader: SnapshotReader,
  logical: string,
  dtype: TableDtype,
  shape: readonly number[],
): Promise<NativeMappedSource | undefined> {
  const e = reader.tensorEntry(logical);
  if (!e || e.type !== 'Tensor' || e.serializer !== 'buffer_protocol' || e.dtype !== `torch.${dtype}`) return undefined;
  const where = reader.where(logical);
  const file = await reader.resolve(e.location, where);
  const bytes = numel(shape) * elementSize(dtype as Dtype);
  let offset = 0;
  if (e.byte_range) {
    const [a, b] = e.byte_range;
    if (b - a !== bytes) {
      throw checkpointError(
        `${where}: byte_range [${a}, ${b}] holds ${b - a} bytes, but ${shapeText(shape)} ${e.dtype} needs ${bytes}`,
      );
    }
    offset = a;
  } else {
    // A whole-file tensor must be exactly its bytes, as the in-memory restore requires.
    let size: number;
    try {
      size = (await fsp.stat(file)).size;
    } catch (err) {
      throw wrapIoError(err, `${where}: file ${file}`);
    }
    if (size !== bytes) {
      throw checkpointError(
        `${where}: ${file} holds ${size} bytes, but ${shapeText(shape)} ${e.dtype} needs ${bytes}` +
          (size < bytes ? ' (truncated)' : ''),
      );
    }
  }
  if (offset % elementSize(dtype as Dtype) !== 0) return undefined;
  return { file, offset, dtype };
}

/** The mappable source of a torch.save tensor (a contiguous view of a record in the table's dtype). */
export async function archiveMappedSource(
  archive: TorchArchive,
  t: TensorRef,
  dtype: TableDtype,
  shape: readonly number[],
  where: string,
): Promise<NativeMappedSource | undefined> {
  const s = t.storage;
  const n = numel(shape);
  const contiguous = t.stride.every((st, i) => t.size[i] === 1 || st === numel(t.size.slice(i + 1)));
  if (s.dtype !== dtype || !contiguous || shapeText(t.size) !== shapeText(shape) || n === 0) return undefined;
  const record = `data/${s.key}`;
  if (!archive.has(record)) throw checkpointError(`${where}: its storage ${archive.archiveName}/${record} is missing`);
  const size = elementSize(dtype as Dtype);
  if (archive.size(record) !== s.numel * size || t.offset < 0 || t.offset + n > s.numel) {
    throw checkpointError(
      `${where}: storage ${archive.archiveName}/${record} holds ${archive.size(record)} bytes; elements ` +
        `[${t.offset}, ${t.offset + n}) of ${s.numel} × ${s.dtype} do not fit in it`,
    );
  }
  const data = await recordDataOffset(archive, record, where);
  const offset = data + t.offset * size;
  return offset % size === 0 ? { file: archive.file, offset, dtype } : undefined;
}

/** Where a stored record's bytes begin: after its local header, file name and extra field. */
async function recordDataOffset(archive: TorchArchive, record: string, where: string): Promise<number> {
  const at = archive.localHeaderOffset(record);
  const header = Buffer.alloc(LOCAL_HEADER_BYTES);
  let handle;
  try {
    handle = await fsp.open(archive.file, 'r');
    const { bytesRead } = await handle.read(header, 0, LOCAL_HEADER_BYTES, at);
    if (bytesRead !== LOCAL_HEADER_BYTES || header.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) {
      throw checkpointError(`${where}: no zip local header at byte ${at} of ${archive.file}; truncated or forged`);
    }
  } catch (e) {
    throw wrapIoError(e, `${where}: ${archive.file}`);
  } finally {
    await handle?.close();
  }
  return at + LOCAL_HEADER_BYTES + header.readUInt16LE(26) + header.readUInt16LE(28);
}
