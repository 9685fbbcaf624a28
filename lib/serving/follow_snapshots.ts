/**
 * followSnapshots (DESIGN "Serving"): keeps a module on the newest complete snapshot under a
 * training job's `save_dir` (the trainer's `<save_dir>/<step>` layout), like the-algorithm-ml's
 * checkpoints_iterator for an evaluation or serving job. A snapshot is complete once its
 * `.snapshot_metadata` exists (torchsnapshot writes it last); step directories without it are saves
 * in progress or cut short, and are ignored. Each restore takes its place in the module's call
 * order (forwards issued before it see the old tables, after it the new).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { RestoredState } from '../checkpoint';
import { METADATA_FILE } from '../checkpoint/snapshot_manifest';
import { readBoolean, readNumber, readObject, validateRoot, Validator } from '../config/validate';
import { TorchrecError } from '../errors';

export interface FollowSnapshotsOptions {
  /** How often saveDir is listed, in ms; default 1000. */
  intervalMs?: number;
  /** Restore with `mmap: true` (read-only, shared pages); default false, as restoreSnapshot. */
  mmap?: boolean;
  /** Called with the restored step after each swap. */
  onSwap?: (step: number) => void;
  /**
   * Called when a snapshot cannot be restored (the module keeps what it had, and that snapshot is
   * skipped until its metadata changes); default: a process warning.
   */
  onError?: (error: Error, dir: string) => void;
}

export interface SnapshotFollower {
  /** Resolves after any restore in progress has finished; none starts after it is called. */
  stop(): Promise<void>;
}

/** What followSnapshots needs of a module: EmbeddingBagCollection and LargeEmbeddings have it. */
export interface RestorableModule {
  restoreSnapshot(dir: string, o?: { mmap?: boolean }): Promise<RestoredState>;
}

interface Resolved {
  intervalMs: number;
  mmap: boolean;
  onSwap?: (step: number) => void;
  onError?: (error: Error, dir: string) => void;
}

function validate(raw: unknown): Resolved {
  const read = (v: Validator, x: unknown, p: string): Resolved | undefined => {
    const o = readObject(v, x, p, ['intervalMs', 'mmap', 'onSwap', 'onError']);
    if (!o) return undefined;
    const intervalMs = readNumber(v, o, 'intervalMs', p, 'positiveInt') ?? 1000;
    for (const k of ['onSwap', 'onError'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'function') v.add(p ? `${p}.${k}` : k, 'must be a function');
    }
    return {
      intervalMs,
      mmap: readBoolean(v, o, 'mmap', p) ?? false,
      onSwap: o.onSwap as Resolved['onSwap'],
      onError: o.onError as Resolved['onError'],
    };
  };
  return validateRoot('followSnapshots options', raw ?? {}, read, 'ERR_INVALID_ARGUMENT');
}

/** The newest complete `<saveDir>/<step>` snapshot: its step and directory, or undefined. */
export async function newestCompleteSnapshot(saveDir: string): Promise<{ step: number; dir: string } | undefined> {
  let names: string[];
  try {
    names = await fsp.readdir(saveDir);
  } catch {
    return undefined; // not there yet: the job has not saved
  }
  const steps = names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter(Number.isSafeInteger)
    .sort((a, b) => b - a);
  for (const step of steps) {
    const dir = path.join(saveDir, String(step));
    const st = await fsp.stat(path.join(dir, METADATA_FILE)).catch(() => undefined);
    if (st?.isFile()) return { step, dir };
  }
  return undefined;
}

export function followSnapshots(
  module: RestorableModule,
  saveDir: string,
  options: FollowSnapshotsOptions = {},
): SnapshotFollower {
  if (!module || typeof (module as RestorableModule).restoreSnapshot !== 'function') {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', 'followSnapshots: module must have restoreSnapshot()');
  }
  if (typeof saveDir !== 'string' || saveDir === '') {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', 'followSnapshots: saveDir must be a non-empty path string');
  }
  const o = validate(options);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  let restored: string | undefined; // the directory restored last
  const failed = new Map<string, number>(); // dir → mtime of the metadata that failed

  const poll = async (): Promise<void> => {
    const found = await newestCompleteSnapshot(saveDir);
    if (stopped || !found || found.dir === restored) return;
    const mtime = (await fsp.stat(path.join(found.dir, METADATA_FILE)).catch(() => undefined))?.mtimeMs ?? 0;
    if (stopped || failed.get(found.dir) === mtime) return;
    try {
      const r = await module.restoreSnapshot(found.dir, { mmap: o.mmap });
      restored = found.dir;
      failed.delete(found.dir);
      o.onSwap?.(r.step);
    } catch (e) {
      failed.set(found.dir, mtime);
      const error = e instanceof Error ? e : new Error(String(e));
      if (o.onError) o.onError(error, found.dir);
      else process.emitWarning(`followSnapshots: cannot restore ${found.dir}: ${error.message}`, 'TorchrecWarning');
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    current = poll()
      .catch(() => undefined) // onSwap/onError threw: keep following
      .finally(() => {
        if (!stopped) {
          timer = setTimeout(schedule, o.intervalMs);
          timer.unref(); // following does not keep the process alive by itself
        }
      });
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
