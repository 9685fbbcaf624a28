/**
 * Replacing a snapshot directory so that a crash at any instant leaves a complete snapshot:
 *
 *   1. write the new snapshot into `<dir>.tmp-<pid>-<rand>`, `.snapshot_metadata` last, all fsync'd;
 *   2. rename the old `<dir>` to `<dir>.old-<pid>-<rand>` (if there is one);
 *   3. rename the temporary directory to `<dir>`, fsync the parent, delete the old one.
 *
 * POSIX has no atomic exchange of two directories, so between 2 and 3 `<dir>` is briefly absent;
 * both the complete new snapshot (temporary, with its metadata) and the complete old one are on
 * disk then. Readers resolve that state without touching it (newest complete candidate wins), and
 * the next save finishes the interrupted swap. A temporary directory without metadata is an
 * interrupted write and is never read. Leftovers are only removed once their writer's pid is dead,
 * so a save running in another process is never disturbed.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { checkpointError, wrapIoError } from './checkpointable';
import { fsyncPath, tempSibling } from './fs_util';
import { METADATA_FILE } from './snapshot_manifest';

interface Leftover {
  path: string;
  kind: 'tmp' | 'old';
  pid: number;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function isComplete(dir: string): Promise<boolean> {
  return exists(path.join(dir, METADATA_FILE));
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function leftovers(target: string): Promise<Leftover[]> {
  const dir = path.dirname(target);
  const base = path.basename(target);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(tmp|old)-(\\d+)-[0-9a-f]{8}$`);
  const out: Leftover[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.push({ path: path.join(dir, n), kind: m[1] as 'tmp' | 'old', pid: Number(m[2]) });
  }
  return out;
}

/** Complete leftovers, best first: new (tmp) before old, newer metadata before older. */
async function completeCandidates(target: string, onlyDead: boolean): Promise<Leftover[]> {
  const found: { l: Leftover; mtime: number }[] = [];
  for (const l of await leftovers(target)) {
    if (onlyDead && pidAlive(l.pid)) continue;
    try {
      found.push({ l, mtime: (await fsp.stat(path.join(l.path, METADATA_FILE))).mtimeMs });
    } catch {
      // no metadata: an interrupted write, never a candidate
    }
  }
  found.sort((a, b) => (a.l.kind !== b.l.kind ? (a.l.kind === 'tmp' ? -1 : 1) : b.mtime - a.mtime));
  return found.map((f) => f.l);
}

/**
 * The directory to read the snapshot `target` from: `target` itself when complete, else the best
 * complete candidate an interrupted swap left behind. Changes nothing on disk.
 */
export async function resolveSnapshotDir(target: string): Promise<string> {
  const abs = path.resolve(target);
  if (await isComplete(abs)) return abs;
  const [best] = await completeCandidates(abs, false);
  if (best) return best.path;
  const why = (await exists(abs))
    ? `${METADATA_FILE} is missing (not a snapshot, or its save never completed)`
    : 'it does not exist';
  throw checkpointError(`${path.join(abs, METADATA_FILE)}: no snapshot at ${abs}: ${why}`);
}

/** Finishes a swap a dead writer left half done, and removes dead writers' leftovers. */
async function recover(target: string): Promise<void> {
  if (!(await exists(target))) {
    const [best] = await completeCandidates(target, true);
    if (best) await fsp.rename(best.path, target);
  }
  for (const l of await leftovers(target)) {
    if (!pidAlive(l.pid)) await fsp.rm(l.path, { recursive: true, force: true });
  }
}

/** Prepares to replace `target`: returns the empty temporary directory to write into. */
export async function beginReplace(target: string): Promise<string> {
  const abs = path.resolve(target);
  try {
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    await recover(abs);
    const st = await fsp.lstat(abs).catch(() => undefined);
    if (st) {
      // Never move aside something that is not a snapshot (a typo could otherwise delete a data dir).
      const empty = st.isDirectory() && (await fsp.readdir(abs)).length === 0;
      if (!empty && !(st.isDirectory() && (await isComplete(abs)))) {
        throw checkpointError(`${abs}: exists and is not a snapshot (no ${METADATA_FILE}); refusing to replace it`);
      }
    }
    const tmp = tempSibling(abs, 'tmp');
    await fsp.mkdir(tmp);
    return tmp;
  } catch (e) {
    throw wrapIoError(e, `preparing to save a snapshot at ${abs}`);
  }
}

/** Puts the complete temporary directory in place of `target` (see the file comment). */
export async function commitReplace(tmp: string, target: string): Promise<void> {
  const abs = path.resolve(target);
  const old = tempSibling(abs, 'old');
  try {
    let moved = false;
    try {
      await fsp.rename(abs, old);
      moved = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    try {
      await fsp.rename(tmp, abs);
    } catch (e) {
      // Put the previous snapshot back rather than leave the swap half done by a live process.
      if (moved) await fsp.rename(old, abs).catch(() => undefined);
      throw e;
    }
    await fsyncPath(path.dirname(abs));
    if (moved) await fsp.rm(old, { recursive: true, force: true });
  } catch (e) {
    throw wrapIoError(e, `putting the new snapshot in place at ${abs}`);
  }
}

/** Removes a temporary directory after a failed save; the previous snapshot is untouched. */
export async function abortReplace(tmp: string): Promise<void> {
  await fsp.rm(tmp, { recursive: true, force: true });
}
