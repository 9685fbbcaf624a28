/**
 * The container of `torch.save` (PyTorch ≥ 1.6): a zip whose records all sit under one top-level
 * folder — `<name>/data.pkl` (the pickle), `<name>/data/<key>` (raw little-endian storages) and
 * `<name>/version`. Records are stored uncompressed, as PyTorch writes them, and streamed both ways.
 *
 * Reading treats the file as untrusted: only a regular file is opened (never a FIFO, without
 * blocking), a compressed record is refused (torch.save never compresses, and a 170 KiB deflated
 * record can expand to gigabytes), a record must fit inside the file before anything is allocated
 * for it, and data.pkl is bounded (MAX_PICKLE_BYTES).
 */
import { close as closeFd, promises as fsp, read as readFd } from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { checkpointError, wrapIoError } from './checkpointable';
import { fsyncPath, OpenOptions, openRegularFd, tempSibling } from './fs_util';
import { MAX_PICKLE_BYTES } from './pickle_reader';
import { AlignedRecord, writeAlignedZip } from './aligned_zip';
import { yauzl, ZipEntry, ZipReader } from './zip';

const readFdAsync = promisify(readFd);
const closeFdAsync = promisify(closeFd);

// Pickle protocol 2 header of the legacy (pre-1.6) torch.save format: LONG1 magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

export class TorchArchive {
  private constructor(
    readonly file: string,
    readonly archiveName: string,
    private readonly zip: ZipReader,
    private readonly records: Map<string, ZipEntry>,
  ) {}

  static async open(file: string, o: OpenOptions = {}): Promise<TorchArchive> {
    const fd = await openRegularFd(file, file, o);
    let zip: ZipReader;
    try {
      await checkMagic(fd, file);
      try {
        // From here on yauzl owns the descriptor: zip.close() closes it.
        zip = await yauzl.fromFdPromise(fd, { lazyEntries: true, autoClose: false, strictFileNames: true });
      } catch (e) {
        throw checkpointError(`${file}: not a readable torch.save zip archive (${(e as Error).message}); truncated?`);
      }
    } catch (e) {
      await closeFdAsync(fd).catch(() => undefined);
      throw e;
    }
    try {
      const all = new Map<string, ZipEntry>();
      for await (const entry of zip.eachEntry()) all.set(entry.fileName, entry);
      const pkls = [...all.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkls.length !== 1) {
        throw checkpointError(
          `${file}: expected exactly one <archive>/data.pkl record, found ${pkls.length} ` +
            `(records: ${[...all.keys()].slice(0, 10).join(', ')}); not a torch.save file?`,
        );
      }
      const archiveName = pkls[0].slice(0, -'/data.pkl'.length);
      const records = new Map<string, ZipEntry>();
      for (const [name, entry] of all) {
        if (name.startsWith(`${archiveName}/`)) records.set(name.slice(archiveName.length + 1), entry);
      }
      return new TorchArchive(file, archiveName, zip, records);
    } catch (e) {
      zip.close();
      throw wrapIoError(e, file);
    }
  }

  has(record: string): boolean {
    return this.records.has(record);
  }

  size(record: string): number {
    return this.entry(record).uncompressedSize;
  }

  /** Where a stored record's local header starts in the file (mapped_source.ts finds its data from there). */
  localHeaderOffset(record: string): number {
    return this.entry(record).relativeOffsetOfLocalHeader;
  }

  async readRecord(record: string): Promise<Uint8Array> {
    const out = new Uint8Array(this.size(record));
    await this.readRecordInto(record, out);
    return out;
  }

  /** data.pkl, refused before it is read when larger than any state dict's pickle. */
  async readPickle(): Promise<Uint8Array> {
    const size = this.size('data.pkl');
    if (size > MAX_PICKLE_BYTES) {
      throw checkpointError(
        `${this.file}: record ${this.archiveName}/data.pkl is ${size} bytes, more than the ${MAX_PICKLE_BYTES} ` +
          "a state dict's pickle needs; refusing to read it",
      );
    }
    return this.readRecord('data.pkl');
  }

  /** Streams a record into `target`, which must be exactly the record's size. */
  async readRecordInto(record: string, target: Uint8Array): Promise<void> {
    if (this.size(record) !== target.byteLength) {
      throw checkpointError(
        `${this.file}: record ${this.archiveName}/${record} holds ${this.size(record)} bytes, expected ${target.byteLength}`,
      );
    }
    await this.readRecordRange(record, 0, target);
  }

  /** Streams bytes [start, start + target.byteLength) of a record into `target`. */
  async readRecordRange(record: string, start: number, target: Uint8Array): Promise<void> {
    const entry = this.entry(record);
    const where = `${this.file}: record ${this.archiveName}/${record}`;
    if (start < 0 || start + target.byteLength > entry.uncompressedSize) {
      throw checkpointError(
        `${where}: bytes [${start}, ${start + target.byteLength}) lie outside its ${entry.uncompressedSize} bytes`,
      );
    }
    let offset = 0;
    try {
      const stream = await this.zip.openReadStreamPromise(entry, { start, end: start + target.byteLength });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (offset + chunk.length > target.byteLength) throw checkpointError(`${where} is longer than its header says`);
        target.set(chunk, offset);
        offset += chunk.length;
      }
    } catch (e) {
      throw wrapIoError(e, where);
    }
    if (offset !== target.byteLength)
      throw checkpointError(`${where} is truncated (${offset} of ${target.byteLength} bytes)`);
  }

  close(): void {
    this.zip.close();
  }

  /** A record that can be read: present, stored (not compressed, not encrypted) and inside the file. */
  private entry(record: string): ZipEntry {
    const e = this.records.get(record);
    const where = `${this.file}: record ${this.archiveName}/${record}`;
    if (!e) throw checkpointError(`${where} is missing from the archive`);
    if (e.isEncrypted()) throw checkpointError(`${where} is encrypted`);
    if (e.compressionMethod !== 0) {
      throw checkpointError(
        `${where} is compressed (zip method ${e.compressionMethod}); torch.save stores every record uncompressed, ` +
          'so this file was not written by torch.save, and it is refused (a small compressed record can expand ' +
          'to gigabytes)',
      );
    }
    // yauzl checks that a stored record's two sizes agree; this one that it fits in the file, before
    // any buffer is sized by it.
    if (e.compressedSize > this.zip.fileSize) {
      throw checkpointError(
        `${where} claims ${e.compressedSize} bytes, but the whole archive has ${this.zip.fileSize}; truncated or forged`,
      );
    }
    return e;
  }
}

async function checkMagic(fd: number, file: string): Promise<void> {
  let head = Buffer.alloc(LEGACY_MAGIC.length);
  try {
    const { bytesRead } = await readFdAsync(fd, head, 0, head.length, 0);
    head = head.subarray(0, bytesRead);
  } catch (e) {
    throw wrapIoError(e, file);
  }
  if (head.subarray(0, 4).equals(ZIP_MAGIC)) return;
  if (head.equals(LEGACY_MAGIC)) {
    throw checkpointError(
      `${file}: legacy (pre-1.6, non-zip) torch.save format is not supported; ` +
        're-save it with torch.save(state_dict, path) from PyTorch ≥ 1.6',
    );
  }
  throw checkpointError(
    `${file}: not a torch.save file (no zip header${head.length === 0 ? '; the file is empty' : ''})`,
  );
}

export interface ArchiveRecord {
  /** Name under the archive folder, e.g. `data/0`. */
  name: string;
  size: number;
  /**
   * Called when the writer reaches this record (so only one table is in memory at a time). Any work
   * that can fail belongs in the call itself, not in a lazily run generator: a failure here aborts
   * the write cleanly, while one inside the stream could leave the zip writer waiting forever.
   */
  chunks: () => Iterable<Uint8Array>;
}

/** A record name for the archive folder: torch uses the file's stem. */
export function archiveNameFor(file: string): string {
  const stem = path
    .basename(file)
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
  return stem === '' ? 'archive' : stem;
}

/**
 * Writes a torch.save archive at `file`, through a temporary sibling renamed into place so that a
 * reader never sees half a file. Every record's data starts on a 64-byte boundary, as torch.save
 * places them (aligned_zip.ts), so the tables of the file can be memory-mapped.
 */
export async function writeTorchArchive(
  file: string,
  dataPkl: Buffer,
  records: readonly ArchiveRecord[],
): Promise<void> {
  const name = archiveNameFor(file);
  const tmp = tempSibling(file);
  const all: AlignedRecord[] = [
    { name: `${name}/data.pkl`, size: dataPkl.length, chunks: () => [dataPkl] },
    ...records.map((r) => ({ name: `${name}/${r.name}`, size: r.size, chunks: r.chunks })),
    { name: `${name}/version`, size: 2, chunks: () => [Buffer.from('3\n')] },
  ];
  try {
    await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const out = await fsp.open(tmp, 'w');
    try {
      await writeAlignedZip(all, async (chunk) => {
        await out.write(chunk);
      });
      await out.sync();
    } finally {
      await out.close();
    }
    await fsp.rename(tmp, file);
    await fsyncPath(path.dirname(path.resolve(file)));
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw wrapIoError(e, `writing ${file}`);
  }
}
