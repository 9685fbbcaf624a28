/**
 * Small async file helpers shared by the writers and readers: chunked, fsync'd writes and exact
 * ranged reads, so that big tensors move in bounded pieces and the event loop keeps turning.
 */
import { randomBytes } from 'crypto';
import { constants as fsConstants, close as closeFd, fstat, open as openFd, promises as fsp, Stats } from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { checkpointError, wrapIoError } from './checkpointable';

export interface OpenOptions {
  /** O_NOFOLLOW: refuse a symlink as the last component (links inside a snapshot are refused). */
  noFollow?: boolean;
}

/**
 * O_NONBLOCK: a FIFO opens at once (and is then refused as not a regular file) instead of blocking
 * a libuv pool thread until a writer appears; four such opens once stalled every async call of the
 * process. On a regular file the flag changes nothing.
 */
function readFlags(o: OpenOptions): number {
  return fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (o.noFollow ? fsConstants.O_NOFOLLOW : 0);
}

function openError(e: unknown, file: string, what: string, o: OpenOptions): Error {
  if (o.noFollow && (e as NodeJS.ErrnoException)?.code === 'ELOOP') {
    return checkpointError(`${what}: ${file} is a symbolic link; links inside a snapshot are refused`);
  }
  return wrapIoError(e, what);
}

function checkRegular(st: Stats, file: string, what: string): void {
  if (!st.isFile()) {
    const kind = st.isFIFO()
      ? 'a FIFO'
      : st.isDirectory()
        ? 'a directory'
        : st.isSocket()
          ? 'a socket'
          : st.isCharacterDevice() || st.isBlockDevice()
            ? 'a device'
            : 'not a file';
    throw checkpointError(`${what}: ${file} is ${kind}, not a regular file; refusing to read it`);
  }
}

/** Opens `file` for reading only if it is a regular file, never blocking (see readFlags). */
export async function openRegularFile(
  file: string,
  what: string,
  o: OpenOptions = {},
): Promise<{ fh: fsp.FileHandle; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, readFlags(o));
  } catch (e) {
    throw openError(e, file, what, o);
  }
  try {
    const st = await fh.stat();
    checkRegular(st, file, what);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw wrapIoError(e, what);
  }
}

const openFdAsync = promisify(openFd);
const fstatAsync = promisify(fstat);
const closeFdAsync = promisify(closeFd);

/** openRegularFile as a raw descriptor, for readers that take ownership of it (yauzl.fromFd). */
export async function openRegularFd(file: string, what: string, o: OpenOptions = {}): Promise<number> {
  let fd: number;
  try {
    fd = await openFdAsync(file, readFlags(o));
  } catch (e) {
    throw openError(e, file, what, o);
  }
  try {
    checkRegular(await fstatAsync(fd), file, what);
    return fd;
  } catch (e) {
    await closeFdAsync(fd);
    throw wrapIoError(e, what);
  }
}

/** A whole file, opened as openRegularFile does and refused beyond `maxBytes`. */
export async function readRegularFile(
  file: string,
  what: string,
  maxBytes: number,
  o: OpenOptions = {},
): Promise<Buffer> {
  const { fh, size } = await openRegularFile(file, what, o);
  try {
    if (size > maxBytes) throw checkpointError(`${what}: ${file} is ${size} bytes, more than the ${maxBytes} allowed`);
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } catch (e) {
    throw wrapIoError(e, what);
  } finally {
    await fh.close();
  }
}

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

  static async open(file: string, what: string, o: OpenOptions = {}): Promise<RangeReader> {
    const { fh, size } = await openRegularFile(file, what, o);
    return new RangeReader(file, fh, size);
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
