/**
 * One block [offsets, offsets + sizes) of a snapshot tensor, as float32: what a rank restoring into
 * its own shard needs (ShardedTensorIOPreparer.prepare_read's overlap rule). Whatever the entry —
 * a plain Tensor (an unsharded snapshot, a replicated data_parallel table), a ChunkedTensor or a
 * ShardedTensor saved on any number of ranks — its pieces are first checked to tile the tensor
 * (inside it, no overlap, nothing missing), and only the pieces that overlap the block are read.
 * Of a raw piece only the overlapping rows are read (rowsOf), of a torch_save piece all of it; the
 * overlap is then copied into the block.
 */
import { checkpointError, numel, shapeText } from './checkpointable';
import { Dtype, elementSize } from './dtypes';
import { Shard } from './snapshot_manifest';
import { checkTiling, SnapshotReader } from './snapshot_reader';

export async function readRegion(
  reader: SnapshotReader,
  logical: string,
  shape: readonly number[],
  offsets: readonly number[],
  sizes: readonly number[],
): Promise<Float32Array> {
  const where = reader.where(logical);
  const e = reader.tensorEntry(logical);
  if (!e) throw checkpointError(`${where} is not a tensor`);
  if (offsets.some((o, d) => o + sizes[d] > shape[d])) {
    throw checkpointError(
      `${where}: block ${shapeText(offsets)} + ${shapeText(sizes)} lies outside ${shapeText(shape)}`,
    );
  }
  const info = reader.info(logical);
  if (shapeText(info.shape) !== shapeText(shape)) {
    throw checkpointError(`${where} has shape ${shapeText(info.shape)}, expected ${shapeText(shape)}`);
  }
  const pieces: Shard[] =
    e.type === 'Tensor'
      ? [{ offsets: shape.map(() => 0), sizes: [...shape], tensor: e }]
      : e.type === 'ChunkedTensor'
        ? e.chunks
        : e.shards;
  checkTiling(pieces, shape, where);
  const out = new Float32Array(numel(sizes));
  for (const [i, p] of pieces.entries()) {
    const lo = p.offsets.map((o, d) => Math.max(o, offsets[d]));
    const hi = p.offsets.map((o, d) => Math.min(o + p.sizes[d], offsets[d] + sizes[d]));
    if (lo.some((l, d) => l >= hi[d])) continue; // no overlap
    const pw = `${where} piece ${i} (offsets ${shapeText(p.offsets)})`;
    if (p.tensor.dtype !== `torch.${info.dtype}`)
      throw checkpointError(`${pw}: dtype ${p.tensor.dtype} differs from the tensor's`);
    const sub = await rowsOf(reader, p, info.dtype, lo[0], hi[0], pw);
    const piece = new Float32Array(numel(sub.sizes));
    await reader.readPiece(
      sub.tensor,
      pw,
      piece,
      sub.sizes,
      sub.sizes.map(() => 0),
      sub.sizes,
    );
    copyOverlap(piece, sub.offsets, sub.sizes, out, offsets, sizes, lo, hi);
  }
  return out;
}

/**
 * Rows [r0, r1) of a piece as a piece of their own: a raw (buffer_protocol) piece is row-major, so
 * they are one byte range of its file, checked first to hold exactly the whole piece; a restore on
 * many ranks then reads each row once, not a whole table per rank. torch_save pieces are read whole.
 */
async function rowsOf(reader: SnapshotReader, p: Shard, dtype: Dtype, r0: number, r1: number, where: string) {
  if (p.tensor.serializer !== 'buffer_protocol' || (r0 === p.offsets[0] && r1 === p.offsets[0] + p.sizes[0])) {
    return p;
  }
  const rowBytes = numel(p.sizes.slice(1)) * elementSize(dtype);
  const bytes = p.sizes[0] * rowBytes;
  let base = 0;
  if (p.tensor.byte_range) {
    const [a, b] = p.tensor.byte_range;
    if (b - a !== bytes)
      throw checkpointError(`${where}: byte_range [${a}, ${b}] holds ${b - a} bytes, needs ${bytes}`);
    base = a;
  } else {
    const size = await reader.fileSize(p.tensor.location, where);
    if (size !== bytes) {
      throw checkpointError(`${where}: ${p.tensor.location} holds ${size} bytes, but the piece needs ${bytes}`);
    }
  }
  const first = base + (r0 - p.offsets[0]) * rowBytes;
  const sizes = [r1 - r0, ...p.sizes.slice(1)];
  const tensor = { ...p.tensor, shape: sizes, byte_range: [first, first + (r1 - r0) * rowBytes] as [number, number] };
  return { offsets: [r0, ...p.offsets.slice(1)], sizes, tensor };
}

/** Copies [lo, hi) (global coordinates) from a row-major piece into a row-major block; 1 or 2 dimensions. */
function copyOverlap(
  piece: Float32Array,
  pOff: readonly number[],
  pSize: readonly number[],
  out: Float32Array,
  oOff: readonly number[],
  oSize: readonly number[],
  lo: number[],
  hi: number[],
): void {
  if (pSize.length > 2) throw checkpointError(`a ${pSize.length}-dimensional snapshot tensor is not a table`);
  const two = pSize.length === 2;
  const pCols = two ? pSize[1] : 1;
  const oCols = two ? oSize[1] : 1;
  const c0 = two ? lo[1] : 0;
  const width = two ? hi[1] - lo[1] : 1;
  for (let r = lo[0]; r < hi[0]; r++) {
    const src = (r - pOff[0]) * pCols + (two ? c0 - pOff[1] : 0);
    const dst = (r - oOff[0]) * oCols + (two ? c0 - oOff[1] : 0);
    out.set(piece.subarray(src, src + width), dst);
  }
}
