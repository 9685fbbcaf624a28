/**
 * Tensor element types as torchsnapshot spells them (`torch.float32`) and as torch.save names their
 * storages (`FloatStorage`), and the conversions between their little-endian bytes and the float32
 * arrays the modules take. Files are little-endian by both formats' definition (torchsnapshot writes
 * native order and is only used on little-endian hosts), so a big-endian host is refused once here.
 */
import * as os from 'os';
import { checkpointError } from './checkpointable';

export type Dtype =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'complex64'
  | 'complex128'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'qint32'
  | 'qint8'
  | 'quint8';

const ELEMENT_SIZE: Record<Dtype, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  complex64: 8,
  complex128: 16,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
  qint32: 4,
  qint8: 1,
  quint8: 1,
};

/** The dtypes that can become embedding weights; the rest are known but refused by name. */
export const FLOAT_DTYPES: readonly Dtype[] = ['float32', 'float16', 'bfloat16', 'float64'];

const STORAGE_CLASSES: Record<string, Dtype> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

export function elementSize(d: Dtype): number {
  return ELEMENT_SIZE[d];
}

/** `torch.float32` → 'float32'; undefined for anything torchsnapshot would not have written. */
export function parseTorchDtype(s: unknown): Dtype | undefined {
  if (typeof s !== 'string' || !s.startsWith('torch.')) return undefined;
  const d = s.slice('torch.'.length);
  return Object.prototype.hasOwnProperty.call(ELEMENT_SIZE, d) ? (d as Dtype) : undefined;
}

export function torchDtypeName(d: Dtype): string {
  return `torch.${d}`;
}

export function storageClassDtype(name: string): Dtype | undefined {
  return Object.prototype.hasOwnProperty.call(STORAGE_CLASSES, name) ? STORAGE_CLASSES[name] : undefined;
}

export function storageClassName(d: Dtype): string {
  const found = Object.keys(STORAGE_CLASSES).find((k) => STORAGE_CLASSES[k] === d);
  if (!found) throw checkpointError(`no torch storage class for dtype ${d}`);
  return found;
}

export function isFloatDtype(d: Dtype): boolean {
  return FLOAT_DTYPES.includes(d);
}

if (os.endianness() !== 'LE') {
  // Both formats store little-endian bytes and the decoders below view them in host order.
  throw checkpointError('checkpoints are only supported on little-endian hosts');
}

// Scratch views for bit-level float conversions.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half → float (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let HALF_TABLE: Float32Array | undefined;

/** All 65536 halves as floats: decoding big fp16 tables becomes one lookup per element. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** float → IEEE half, round to nearest even (what torch's .half() does). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r += 1;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r += 1;
  return sign | r;
}

/**
 * Decodes `count` elements of `dtype` from little-endian `bytes` into `out` at `outOffset`,
 * converting float types to float32 the way torch's `.float()` / `copy_` does.
 */
export function decodeFloats(
  bytes: Uint8Array,
  dtype: Dtype,
  count: number,
  out: Float32Array,
  outOffset: number,
): void {
  const size = ELEMENT_SIZE[dtype];
  if (bytes.byteLength < count * size) throw checkpointError('internal: short buffer in decodeFloats');
  // Typed views need aligned offsets; bytes from a slab at an odd byte range get one copy.
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice(0, count * size);
  switch (dtype) {
    case 'uint8':
      // Quantized codes (snapshot_reader's readCodes): each byte its value.
      for (let i = 0; i < count; i++) out[outOffset + i] = bytes[i];
      return;
    case 'float32':
      out.set(new Float32Array(aligned.buffer, aligned.byteOffset, count), outOffset);
      return;
    case 'float64':
      out.set(new Float64Array(aligned.buffer, aligned.byteOffset, count), outOffset);
      return;
    case 'float16': {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
      const lut = halfTable();
      for (let i = 0; i < count; i++) out[outOffset + i] = lut[h[i]];
      return;
    }
    case 'bfloat16': {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
      for (let i = 0; i < count; i++) {
        u32[0] = h[i] << 16;
        out[outOffset + i] = f32[0];
      }
      return;
    }
    default:
      throw checkpointError(`dtype ${dtype} cannot be converted to float32 weights`);
  }
}

/** float32 values → little-endian bytes of `dtype` (float32 or float16), in a fresh buffer. */
export function encodeFloats(src: Float32Array, dtype: 'float32' | 'float16'): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const h = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) h[i] = floatToHalf(src[i]);
  return new Uint8Array(h.buffer);
}
