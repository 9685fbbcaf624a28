/**
 * A zip writer for torch.save archives whose every record's data starts at a multiple of 64 bytes,
 * as PyTorch's own writer (caffe2/serialize/inline_container.cc, kFieldAlignment = 64) places them:
 * the local header's extra field carries an "FB" padding block sized to reach the boundary. That
 * alignment is what lets a record be memory-mapped and read in place (DESIGN "Serving"), and any
 * zip reader skips the padding as an unknown extra block. Records are stored (never compressed),
 * their CRC-32 computed first so the local header is complete (no data descriptors, as miniz writes),
 * with ZIP64 fields whenever a size or an offset reaches 4 GiB.
 */
import * as zlib from 'zlib';

export const RECORD_ALIGNMENT = 64;

export interface AlignedRecord {
  /** Full name inside the archive, e.g. `model/data/0`. */
  name: string;
  size: number;
  /** The record's bytes; may be called more than once (once for the CRC, once to write). */
  chunks: () => Iterable<Uint8Array>;
}

const U32_MAX = 0xffffffff;
const VERSION_ZIP64 = 45;
const VERSION_STORED = 20;

/** CRC-32 over the chunks: zlib's when Node has it (≥ 20.15), else a table-driven fallback. */
function crc32(chunks: Iterable<Uint8Array>): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  let crc = 0;
  for (const c of chunks) crc = native ? native(c, crc) : crc32Js(c, crc);
  return crc >>> 0;
}

let table: Uint32Array | undefined;
function crc32Js(data: Uint8Array, previous: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

interface Written {
  name: Buffer;
  size: number;
  crc: number;
  offset: number;
  zip64: boolean;
}

/** The local header of a record at `offset`, padded so that its data starts on RECORD_ALIGNMENT. */
function localHeader(name: Buffer, size: number, crc: number, offset: number): { header: Buffer; zip64: boolean } {
  const zip64 = size >= U32_MAX || offset >= U32_MAX;
  const zip64Extra = zip64 ? Buffer.concat([u16(0x0001), u16(16), u64(size), u64(size)]) : Buffer.alloc(0);
  const start = offset + 30 + name.length + zip64Extra.length + 4; // + the "FB" block's own 4 bytes
  const padding = (RECORD_ALIGNMENT - (start % RECORD_ALIGNMENT)) % RECORD_ALIGNMENT;
  const fb = Buffer.concat([Buffer.from('FB', 'latin1'), u16(padding), Buffer.alloc(padding, 'Z')]);
  const extra = Buffer.concat([zip64Extra, fb]);
  const header = Buffer.concat([
    u32(0x04034b50),
    u16(zip64 ? VERSION_ZIP64 : VERSION_STORED),
    u16(0x0800), // UTF-8 names
    u16(0), // stored
    u16(0), // DOS time
    u16(0x21), // DOS date 1980-01-01, as PyTorch writes
    u32(crc),
    u32(zip64 ? U32_MAX : size),
    u32(zip64 ? U32_MAX : size),
    u16(name.length),
    u16(extra.length),
    name,
    extra,
  ]);
  return { header, zip64 };
}

function centralEntry(w: Written): Buffer {
  const needs = w.size >= U32_MAX || w.offset >= U32_MAX;
  const extra = needs
    ? Buffer.concat([u16(0x0001), u16(24), u64(w.size), u64(w.size), u64(w.offset)])
    : Buffer.alloc(0);
  return Buffer.concat([
    u32(0x02014b50),
    u16(VERSION_ZIP64),
    u16(needs || w.zip64 ? VERSION_ZIP64 : VERSION_STORED),
    u16(0x0800),
    u16(0),
    u16(0),
    u16(0x21),
    u32(w.crc),
    u32(needs ? U32_MAX : w.size),
    u32(needs ? U32_MAX : w.size),
    u16(w.name.length),
    u16(extra.length),
    u16(0), // comment
    u16(0), // disk
    u16(0), // internal attributes
    u32(0), // external attributes
    u32(needs ? U32_MAX : w.offset),
    w.name,
    extra,
  ]);
}

function endRecords(count: number, cdOffset: number, cdSize: number): Buffer {
  const zip64 = count >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  const parts: Buffer[] = [];
  if (zip64) {
    const eocd64Offset = cdOffset + cdSize;
    parts.push(
      u32(0x06064b50),
      u64(44),
      u16(VERSION_ZIP64),
      u16(VERSION_ZIP64),
      u32(0),
      u32(0),
      u64(count),
      u64(count),
      u64(cdSize),
      u64(cdOffset),
      u32(0x07064b50),
      u32(0),
      u64(eocd64Offset),
      u32(1),
    );
  }
  parts.push(
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(zip64 ? 0xffff : count),
    u16(zip64 ? 0xffff : count),
    u32(zip64 ? U32_MAX : cdSize),
    u32(zip64 ? U32_MAX : cdOffset),
    u16(0),
  );
  return Buffer.concat(parts);
}

/**
 * Writes the archive through `write` (called in order, awaited). A record whose chunks do not add
 * up to its size fails the write.
 */
export async function writeAlignedZip(
  records: readonly AlignedRecord[],
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  let offset = 0;
  const emit = async (b: Uint8Array): Promise<void> => {
    await write(b);
    offset += b.byteLength;
  };
  const written: Written[] = [];
  for (const r of records) {
    const name = Buffer.from(r.name, 'utf8');
    const crc = crc32(r.chunks());
    const { header, zip64 } = localHeader(name, r.size, crc, offset);
    const at = offset;
    await emit(header);
    let n = 0;
    for (const c of r.chunks()) {
      n += c.byteLength;
      await emit(c);
    }
    if (n !== r.size) throw new Error(`record ${r.name}: wrote ${n} bytes, expected ${r.size}`);
    written.push({ name, size: r.size, crc, offset: at, zip64 });
  }
  const cdOffset = offset;
  for (const w of written) await emit(centralEntry(w));
  await emit(endRecords(written.length, cdOffset, offset - cdOffset));
}
