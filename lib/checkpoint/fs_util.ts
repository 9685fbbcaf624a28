/**
 * Small async file helpers shared by the writers and readers: chunked, fsync'd writes and exact
 * ranged reads, so that big tensors move in bounded pieces and the event loop keeps turning.
 */
import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { checkpointError, wrapIoError } from './checkpointable';

/** Bytes per read/write call: large enough to be fast, small enough to keep the loop responsive. */
export const IO_CHUNK_BYTES = 16 * 1024 * 1024;

/** `<file>.tmp-<pid>-<random>`: the pid lets a later run tell an abandoned temp from a live one. */
export function tempSibling(file: string, kind = 'tmp'): string {
  return `${path.resolve(file)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** fsync a file or directory; directories that cannot be opened for sync (some platforms) are skipped. */
export async function fsyncPath(p: string): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(p, 'r');
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    await fh.close();
  }
}

/** Writes the chunks to a new file and fsyncs it. */
export async function writeChunks(file: string, chunks: Iterable<Uint8Array>): Promise<number> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const fh = await fsp.open(file, 'wx');
  let written = 0;
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.byteLength) {
        const { bytesWritten } = await fh.write(c, off, c.byteLength - off, written);
        off += bytesWritten;
        written += bytesWritten;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return written;
}

/** Splits a typed array's bytes into views of at most IO_CHUNK_BYTES (no copies). */
export function* byteChunks(data: ArrayBufferView): Iterable<Uint8Array> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off < bytes.byteLength; off += IO_CHUNK_BYTES) {
    yield bytes.subarray(off, Math.min(off + IO_CHUNK_BYTES, bytes.byteLength));
  }
}

/** An open file with its size, for several ranged reads. */
export class RangeReader {
  private constructor(
    readonly file: string,
    private readonly fh: fsp.FileHandle,
    readonly size: number,
  ) {}

  static async open(file: string, what: string): Promise<RangeReader> {
    try {
      const fh = await fsp.open(file, 'r');
      const { size } = await fh.stat();
      return new RangeReader(file, fh, size);
    } catch (e) {
      throw wrapIoError(e, what);
    }
  }

  /** Reads exactly target.byteLength bytes at `position` into target. */
  async readInto(target: Uint8Array, position: number, what: string): Promise<void> {
    if (position + target.byteLength > this.size) {
      throw checkpointError(
        `${what}: bytes [${position}, ${position + target.byteLength}) lie beyond the end of ${this.file} ` +
          `(${this.size} bytes); the snapshot is truncated or its manifest is wrong`,
      );
    }
    let done = 0;
    while (done < target.byteLength) {
      const len = Math.min(IO_CHUNK_BYTES, target.byteLength - done);
      const { bytesRead } = await this.fh.read(target, done, len, position + done);
      if (bytesRead === 0) throw checkpointError(`${what}: ${this.file} ended early (it shrank while being read?)`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
