/**
 * Snapshot housekeeping for the training loop: one torchsnapshot per step in `save_dir/<step>`, made
 * complete by `trainer_state.json`, written (atomically) only after the module's snapshot is on disk.
 * A directory without it is a save interrupted by a crash and is never resumed from.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { TorchrecError } from '../errors';

export const TRAINER_STATE = 'trainer_state.json';

export interface TrainerState {
  step: number;
  walltime: number;
  /** Whatever the caller's extra state (e.g. a dense table trained in JS) serialized to. */
  extra?: unknown;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Fails early (ERR_CHECKPOINT) when `dir` cannot be created or written, before any step is spent. */
export async function checkWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.write_probe_${process.pid}`);
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(probe, 'ok');
    await fs.rm(probe, { force: true });
  } catch (e) {
    throw new TorchrecError('ERR_CHECKPOINT', `save_dir ${JSON.stringify(dir)} is not writable: ${errorText(e)}`);
  }
}

/** Step-named subdirectories of `dir`, newest first. */
async function stepDirs(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => b - a);
}

async function readState(dir: string): Promise<TrainerState | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(path.join(dir, TRAINER_STATE), 'utf8')) as TrainerState;
    return Number.isSafeInteger(s.step) && typeof s.walltime === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The newest complete snapshot under `saveDir`, or undefined when there is none. */
export async function newestSnapshot(saveDir: string): Promise<{ dir: string; state: TrainerState } | undefined> {
  for (const step of await stepDirs(saveDir)) {
    const dir = path.join(saveDir, String(step));
    const state = await readState(dir);
    if (state) return { dir, state };
  }
  return undefined;
}

/** Marks `dir` complete; write-then-rename so a crash never leaves a half-written marker. */
export async function writeState(dir: string, state: TrainerState): Promise<void> {
  const tmp = path.join(dir, `${TRAINER_STATE}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(state));
  await fs.rename(tmp, path.join(dir, TRAINER_STATE));
}

/** Removes all but the newest `keep` snapshots (complete or not) and never the one just written. */
export async function pruneSnapshots(saveDir: string, keep: number, justWritten: number): Promise<void> {
  const steps = await stepDirs(saveDir);
  for (const step of steps.slice(keep)) {
    if (step === justWritten) continue;
    await fs.rm(path.join(saveDir, String(step)), { recursive: true, force: true });
  }
}

/** Removes `dir` if it is an incomplete snapshot (ours, cut short by a crash) so a new save can take its place. */
export async function clearIncomplete(dir: string): Promise<void> {
  if ((await readState(dir)) !== undefined) return;
  await fs.rm(dir, { recursive: true, force: true });
}
