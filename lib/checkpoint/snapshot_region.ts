/**
 * One block [offsets, offsets + sizes) of a snapshot tensor, as float32: what a rank restoring into
 * its own shard needs (ShardedTensorIOPreparer.prepare_read's overlap rule). Whatever the entry —
 * a plain Tensor (an unsharded snapshot, a replicated data_parallel table), a ChunkedTensor or a
 * ShardedTensor saved on any number of ranks — its pieces are first checked to tile the tensor
 * (inside it, no overlap, nothing missing), and only the pieces that overlap the block are read.
 * A piece is read whole, then its overlap copied: memory is one saved piece at a time.
 */
import { checkpointError, numel, shapeText } from './checkpointable';
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
    const piece = new Float32Array(numel(p.sizes));
    await reader.readPiece(
      p.tensor,
      pw,
      piece,
      p.sizes,
      p.sizes.map(() => 0),
      p.sizes,
    );
    copyOverlap(piece, p.offsets, p.sizes, out, offsets, sizes, lo, hi);
  }
  return out;
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
