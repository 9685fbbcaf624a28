/**
 * Quantized tables in state dicts, as TorchRec's QuantEmbeddingBagCollection keeps them:
 * `<key>` uint8 [N][packed codes], `<key>_qscale` and `<key>_qbias` fp16 [N][1]. The module stores
 * each row fused ([scale fp16][bias fp16][codes], FBGEMM's TBE inference layout); this file splits and
 * joins the two forms and reads the uint8 tensor of a torch.save'd file.
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { quantizedBits, quantizedRowBytes } from '../config/quantized';
import { checkpointError, numel, shapeText } from './checkpointable';
import { floatToHalf } from './dtypes';
import { TensorRef } from './pickle_reader';
import { TorchArchive } from './torch_zip';

export const QSCALE = '_qscale';
export const QBIAS = '_qbias';

/** Bytes of a quantized table's stored row, or 0 for a float table. */
export function storedRowBytes(t: EmbeddingBagConfig): number {
  const bits = quantizedBits(t.data_type);
  return bits > 0 ? quantizedRowBytes(t.embedding_dim, bits) : 0;
}

/** Fused rows → codes [N][rowBytes-4], scale and bias fp16 bytes [N] each. */
export function splitStoredRows(
  rows: Uint8Array,
  n: number,
  rowBytes: number,
): { codes: Uint8Array; scale: Uint8Array; bias: Uint8Array } {
  const p = rowBytes - 4;
  const codes = new Uint8Array(n * p);
  const scale = new Uint8Array(n * 2);
  const bias = new Uint8Array(n * 2);
  for (let r = 0; r < n; r++) {
    const row = rows.subarray(r * rowBytes, (r + 1) * rowBytes);
    scale.set(row.subarray(0, 2), 2 * r);
    bias.set(row.subarray(2, 4), 2 * r);
    codes.set(row.subarray(4), r * p);
  }
  return { codes, scale, bias };
}

/** The inverse: codes [N][P] and float scale and bias [N] (fp16 values) → fused rows. */
export function joinStoredRows(codes: Uint8Array, scale: Float32Array, bias: Float32Array, n: number): Uint8Array {
  const p = codes.length / n;
  const out = new Uint8Array(n * (p + 4));
  const view = new DataView(out.buffer);
  for (let r = 0; r < n; r++) {
    const at = r * (p + 4);
    view.setUint16(at, floatToHalf(scale[r]), true);
    view.setUint16(at + 2, floatToHalf(bias[r]), true);
    out.set(codes.subarray(r * p, (r + 1) * p), at + 4);
  }
  return out;
}

/** A uint8 tensor of `shape` from a torch.save archive (any strides within its storage). */
export async function readByteTensor(
  archive: TorchArchive,
  where: string,
  t: TensorRef,
  shape: readonly number[],
): Promise<Uint8Array> {
  const s = t.storage;
  if (s.dtype !== 'uint8') throw checkpointError(`${where} has dtype ${s.dtype}; quantized codes are uint8`);
  if (shapeText(t.size) !== shapeText(shape)) {
    throw checkpointError(`${where} has shape ${shapeText(t.size)}, expected ${shapeText(shape)}`);
  }
  const record = `data/${s.key}`;
  if (!archive.has(record)) throw checkpointError(`${where}: its storage ${archive.archiveName}/${record} is missing`);
  if (archive.size(record) !== s.numel) {
    throw checkpointError(`${where}: storage ${record} holds ${archive.size(record)} bytes, expected ${s.numel}`);
  }
  const n = numel(shape);
  const out = new Uint8Array(n);
  if (n === 0) return out;
  let extent = t.offset;
  t.size.forEach((sz, i) => (extent += sz === 0 ? 0 : (sz - 1) * t.stride[i]));
  if (t.offset < 0 || t.stride.some((x) => x < 0) || extent >= s.numel) {
    throw checkpointError(`${where}: offset ${t.offset} and strides ${shapeText(t.stride)} reach outside its storage`);
  }
  const span = new Uint8Array(extent - t.offset + 1);
  await archive.readRecordRange(record, t.offset, span);
  // Row-major walk of the view (TorchRec's weight is a [N][P] view of [N][P + 4] rows).
  const nd = t.size.length;
  const idx = new Array<number>(nd).fill(0);
  let p = 0;
  for (let i = 0; i < n; i++) {
    out[i] = span[p];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] += 1;
      p += t.stride[d];
      if (idx[d] < t.size[d]) break;
      p -= t.stride[d] * t.size[d];
      idx[d] = 0;
    }
  }
  return out;
}
