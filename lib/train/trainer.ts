/**
 * A training loop in the shape of the-algorithm-ml's core/custom_training_loop.py: train for
 * `numTrainSteps`, log every `trainLogEveryN` (loss, steps/s, examples/s, table norms), evaluate every
 * `evalEveryN`, snapshot every `checkpointEveryN`, resume from the newest complete snapshot, and stop
 * cleanly on SIGINT with a final snapshot. Snapshots are taken between steps only: each step's
 * backward has settled before saveSnapshot starts, so a snapshot never holds half an update.
 */
import * as path from 'path';
import type { ProcessGroup } from '../distributed';
import { validateTrainOptions } from '../options/train';
import type { RestoredState, SnapshotExtra } from '../checkpoint';
import { defaultReporter, LogRecord, Reporter } from './progress';
import { checkWritable, clearIncomplete, newestSnapshot, pruneSnapshots, writeState } from './snapshots';

/** What the loop needs of a model: LargeEmbeddings and EmbeddingBagCollection both fit. */
export interface TrainableModule {
  readonly step: number;
  setStep(step: number): void;
  saveSnapshot(dir: string, extra?: SnapshotExtra): Promise<void>;
  restoreSnapshot(dir: string): Promise<RestoredState>;
  tableNorms?(tables?: readonly string[]): Promise<Record<string, number>>;
  /**
   * Set when the module is sharded: every rank runs the loop, rank 0 keeps the save_dir (completion
   * markers, pruning), and a stop request on any rank stops every rank after the same step.
   */
  readonly processGroup?: ProcessGroup;
}

/** State trained outside the module (e.g. a dense table in JS), saved next to its snapshot. */
export interface ExtraState {
  save(): unknown;
  restore(state: unknown): void;
}

export interface StepResult {
  loss: number;
  /** Examples (edges, rows) in this step's batch, for examples/s. */
  examples: number;
}

export interface TrainOptions {
  model: TrainableModule;
  /** Runs step number `step` (0-based): forward, loss, backward, awaited to completion. */
  trainStep: (step: number) => Promise<StepResult>;
  numTrainSteps: number;
  /** Called every evalEveryN steps and at the end; its metrics are logged as an `eval` record. */
  evaluate?: () => Promise<Record<string, unknown>>;
  evalEveryN?: number;
  trainLogEveryN?: number;
  /** Tables whose mean row norm is logged with the train records (LargeEmbeddings' tables_to_log). */
  tablesToLog?: readonly string[];
  saveDir?: string;
  checkpointEveryN?: number;
  /** Newest snapshots kept in saveDir (the-algorithm-ml's checkpoint_max_to_keep); default 3. */
  keepSnapshots?: number;
  extraState?: ExtraState;
  /** Resume from the newest complete snapshot in saveDir (default true). */
  resume?: boolean;
  /** Progress bar (true), JSON lines (false), or by whether stdout is a TTY (undefined). */
  progress?: boolean;
  reporter?: Reporter;
  /** Stop cleanly on SIGINT with a final snapshot (default true). */
  handleSigint?: boolean;
}

export interface TrainResult {
  step: number;
  walltime: number;
  /** Step the run resumed from (0 for a fresh start). */
  resumedFrom: number;
  stoppedBy: 'done' | 'signal';
  lastLoss: number;
  lastEval?: Record<string, unknown>;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const o = validateTrainOptions(options);
  const total = o.numTrainSteps;
  const logEvery = o.trainLogEveryN;
  const evalEvery = o.evalEveryN;
  const ckptEvery = o.checkpointEveryN;
  const keep = o.keepSnapshots;
  // Every check that can fail is done before the first step, so a bad save_dir costs no training.
  if (o.saveDir !== undefined) await checkWritable(o.saveDir);

  let step = 0;
  let walltimeBefore = 0;
  let resumedFrom = 0;
  const reporter = o.reporter ?? defaultReporter(o.progress);
  if (o.saveDir !== undefined && o.resume) {
    const found = await newestSnapshot(o.saveDir);
    if (found) {
      const restored = await o.model.restoreSnapshot(found.dir);
      if (found.state.extra !== undefined) o.extraState?.restore(found.state.extra);
      step = restored.step;
      walltimeBefore = restored.walltime;
      resumedFrom = step;
      o.model.setStep(step);
      reporter.log({ event: 'resume', step, walltime: walltimeBefore, dir: found.dir });
    }
  }

  const started = Date.now();
  const walltime = (): number => walltimeBefore + (Date.now() - started) / 1000;
  const pg = o.model.processGroup;
  const leader = (pg?.rank ?? 0) === 0;
  const snapshot = async (): Promise<void> => {
    if (o.saveDir === undefined) return;
    const dir = path.join(o.saveDir, String(step));
    const wt = walltime();
    if (leader) await clearIncomplete(dir);
    await pg?.barrier(); // nobody writes into dir before a leftover is gone
    await o.model.saveSnapshot(dir, { step, walltime: wt });
    if (leader) {
      await writeState(dir, { step, walltime: wt, extra: o.extraState?.save() });
      await pruneSnapshots(o.saveDir, keep, step);
    }
    await pg?.barrier(); // nobody resumes from or prunes save_dir while it is half done
    reporter.log({ event: 'snapshot', step, dir });
  };
  // Sharded: the ranks must stop after the same step, whichever of them saw the signal.
  const agreedStop = async (): Promise<boolean> =>
    pg ? (await pg.allreduce(Float32Array.of(stopRequested ? 1 : 0)))[0] > 0 : stopRequested;

  // This rank saw SIGINT. Only the handler sets it: a signal that lands while the ranks agree is
  // kept for the next agreement, not overwritten by this one's answer.
  let stopRequested = false;
  // The ranks agreed to stop after the current step.
  let stopping = false;
  const onSigint = (): void => {
    if (stopRequested) {
      // A second Ctrl-C means "now": fall back to Node's default, which ends the process.
      process.removeListener('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    stopRequested = true;
    reporter.log({ event: 'stopping', step, reason: 'SIGINT; finishing the current step and saving a snapshot' });
  };
  if (o.handleSigint) process.on('SIGINT', onSigint);

  let lastLoss = NaN;
  let lastEval: Record<string, unknown> | undefined;
  let windowStart = Date.now();
  let windowSteps = 0;
  let windowExamples = 0;
  reporter.start(total, step);
  try {
    while (step < total && !(stopping = await agreedStop())) {
      const r = await o.trainStep(step);
      step++;
      lastLoss = r.loss;
      windowSteps++;
      windowExamples += r.examples;
      reporter.update(step, r.loss);
      if (step % logEvery === 0 || step === total) {
        const secs = Math.max(1e-6, (Date.now() - windowStart) / 1000);
        const norms = o.tablesToLog?.length && o.model.tableNorms ? await o.model.tableNorms(o.tablesToLog) : undefined;
        reporter.log({
          event: 'train',
          step,
          loss: r.loss,
          steps_per_s: windowSteps / secs,
          examples_per_s: windowExamples / secs,
          ...(norms ? { table_norms: norms } : {}),
        });
        windowStart = Date.now();
        windowSteps = 0;
        windowExamples = 0;
      }
      if (o.evaluate && evalEvery !== undefined && step % evalEvery === 0 && step < total) {
        lastEval = await o.evaluate();
        reporter.log({ event: 'eval', step, ...lastEval });
      }
      if (ckptEvery !== undefined && step % ckptEvery === 0 && step < total) await snapshot();
    }
    if (o.evaluate && !stopping) {
      lastEval = await o.evaluate();
      reporter.log({ event: 'eval', step, ...lastEval });
    }
    // The final snapshot: at the end of training and on a clean stop alike.
    await snapshot();
  } finally {
    if (o.handleSigint) process.removeListener('SIGINT', onSigint);
    reporter.stop();
  }
  const stoppedBy = stopping ? 'signal' : 'done';
  reporter.log({ event: 'done', step, walltime: walltime(), stopped_by: stoppedBy });
  return { step, walltime: walltime(), resumedFrom, stoppedBy, lastLoss, lastEval };
}
export type { LogRecord, Reporter };
