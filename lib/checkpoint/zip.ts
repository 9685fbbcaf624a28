/**
 * The slice of yauzl (read) and yazl (write) that torch.save files need, typed here rather than
 * through @types packages so that the package's dependency list stays as small as the code's.
 * Both libraries stream (no whole-archive buffering) and handle ZIP64, which tables over 4 GiB need.
 */
import { Readable } from 'stream';

export interface ZipEntry {
  fileName: string;
  compressionMethod: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Where the record's local header starts in the archive (ZIP64 resolved). */
  relativeOffsetOfLocalHeader: number;
  isEncrypted(): boolean;
}

export interface ZipReader {
  entryCount: number;
  /** Size of the whole archive in bytes. */
  fileSize: number;
  eachEntry(): AsyncIterable<ZipEntry>;
  /** `start`/`end` (a byte range of the record) only for stored, unencrypted records. */
  openReadStreamPromise(entry: ZipEntry, options?: { start?: number; end?: number }): Promise<Readable>;
  close(): void;
}

interface Yauzl {
  /** Takes the descriptor over: the reader's close() closes it. */
  fromFdPromise(
    fd: number,
    options: { lazyEntries: boolean; autoClose: boolean; strictFileNames?: boolean },
  ): Promise<ZipReader>;
}

export interface ZipWriteOptions {
  compress: boolean;
  size?: number;
  mtime?: Date;
}

export interface ZipWriter {
  outputStream: Readable;
  addBuffer(buffer: Buffer, name: string, options: ZipWriteOptions): void;
  addReadStreamLazy(
    name: string,
    options: ZipWriteOptions,
    getStream: (cb: (err: Error | null, stream?: Readable) => void) => void,
  ): void;
  end(): void;
  on(event: 'error', listener: (err: Error) => void): this;
}

interface Yazl {
  ZipFile: new () => ZipWriter;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const yauzl = require('yauzl') as Yauzl;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const yazl = require('yazl') as Yazl;
