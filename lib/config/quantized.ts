/**
 * The rules of row-wise quantized tables (DataType.INT8/INT4/INT2, FBGEMM's TBE inference layout): one
 * owner for how many bits a data type has, what a dim must be to pack, and what such a table may not
 * have (an optimizer: it is inference only).
 */
import { DataType } from '../enums';
import type { Fields, Validator } from './validate';
import { at } from './validate';

const BITS: Partial<Record<DataType, number>> = { [DataType.INT8]: 8, [DataType.INT4]: 4, [DataType.INT2]: 2 };

/** Bits per value of a quantized data type; 0 for fp32/fp16. */
export function quantizedBits(dtype: DataType): number {
  return BITS[dtype] ?? 0;
}

export function isQuantized(dtype: DataType): boolean {
  return quantizedBits(dtype) > 0;
}

/** Bytes one stored row takes: fp16 scale and bias (4 bytes), then the packed codes. */
export function quantizedRowBytes(dim: number, bits: number): number {
  return 4 + Math.ceil((dim * bits) / 8);
}

/** Stored bytes per value, for size limits (a quantized row's 4 bytes of scale and bias aside). */
export function storedBytesPerValue(dtype: DataType): number {
  if (dtype === DataType.FP16) return 2;
  const bits = quantizedBits(dtype);
  return bits > 0 ? bits / 8 : 4;
}

/** Adds the issues of a quantized table's fields (dim packs whole bytes; no optimizer). */
export function checkQuantizedTable(v: Validator, path: string, t: Fields): void {
  const dtype = t.data_type as DataType;
  const bits = quantizedBits(dtype);
  if (bits === 0) return;
  const perByte = 8 / bits;
  const dim = t.embedding_dim as number | undefined;
  if (dim !== undefined && dim % perByte !== 0) {
    v.add(
      at(path, 'embedding_dim'),
      `an ${dtype} table packs ${perByte} values per byte, so embedding_dim must be a multiple of ${perByte}, got ${dim}`,
    );
  }
  if (t.optimizer !== undefined) {
    v.add(
      at(path, 'optimizer'),
      `an ${dtype} table is quantized for inference and cannot be trained; drop its optimizer`,
    );
  }
}
