/**
 * saveSnapshot / restoreSnapshot in the layout the-algorithm-ml checkpoints with (torchsnapshot):
 *
 *   model        OrderedDict  <prefix>embedding_bags.<table>.weight → weight
 *   optimizer    dict         {state: {<weight key>: {<table>.momentum1: …}}, param_groups: [{params: [...]}]}
 *                             (TorchRec's KeyedOptimizer.state_dict(); only for modules with optimizer state)
 *   extra_state  dict         {step: int, walltime: float}
 *
 * Saving writes a fresh directory and swaps it in (atomic_dir.ts). Restoring checks the whole
 * snapshot against the module (names, shapes, dtypes), reads every tensor, checks the values the
 * optimizer state must hold (optimizer_state_checks.ts) and the step, and only then applies them,
 * so a bad snapshot leaves the module exactly as it was.
 */
import { SnapshotExtra, validateSnapshotExtra } from '../options/checkpoint';
import { abortReplace, beginReplace, commitReplace, resolveSnapshotDir } from './atomic_dir';
import {
  Checkpointable,
  checkpointError,
  ModuleKeyOptions,
  wrapIoError,
  optimizerStateShape,
  readOptimizerState,
  shapeText,
  tableDtype,
  tableShape,
  weightKey,
} from './checkpointable';
import { torchDtypeName } from './dtypes';
import { optimizerStateIssue } from './optimizer_state_checks';
import { floatEntry, intEntry, keyToFilename, strEntry } from './snapshot_manifest';
import { SnapshotReader } from './snapshot_reader';
import { SnapshotWriter } from './snapshot_writer';

export type { SnapshotExtra } from '../options/checkpoint';

export interface RestoredState {
  step: number;
  walltime: number;
}

const RANK = '0';

function modelPath(keyPrefix: string, table: string): string {
  return `model/${keyToFilename(weightKey(keyPrefix, table))}`;
}

function optimizerPath(keyPrefix: string, table: string, name: string): string {
  return `optimizer/state/${keyToFilename(weightKey(keyPrefix, table))}/${keyToFilename(`${table}.${name}`)}`;
}

/**
 * Saves the module into `dir`. Each table (and its optimizer state) is copied out when it is
 * written, so memory stays at one table; the caller must not run backward until this resolves.
 */
export async function saveSnapshot(
  module: Checkpointable,
  dir: string,
  extra: SnapshotExtra = {},
  o: ModuleKeyOptions = {},
): Promise<void> {
  const keyPrefix = o.keyPrefix ?? '';
  const { step, walltime } = validateSnapshotExtra(extra, module.step);
  const tmp = await beginReplace(dir);
  try {
    const w = new SnapshotWriter(tmp);
    const keys = module.tables.map((t) => weightKey(keyPrefix, t.name));
    w.container(`${RANK}/model`, 'OrderedDict', keys);
    const withOptimizer = typeof module.optimizerState === 'function';
    if (withOptimizer) {
      w.container(`${RANK}/optimizer`, 'dict', ['state', 'param_groups']);
      w.container(`${RANK}/optimizer/state`, 'dict', keys);
    }
    for (const t of module.tables) {
      await w.tensor(
        `${RANK}/${modelPath(keyPrefix, t.name)}`,
        module.getWeights(t.name),
        tableDtype(t),
        tableShape(t),
      );
      const state = readOptimizerState(module, t.name);
      if (!state) continue;
      const names = Object.keys(state);
      w.container(
        `${RANK}/optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}`,
        'dict',
        names.map((n) => `${t.name}.${n}`),
      );
      for (const n of names) {
        await w.tensor(
          `${RANK}/${optimizerPath(keyPrefix, t.name, n)}`,
          state[n],
          'float32',
          optimizerStateShape(t, n, state[n].length),
        );
      }
    }
    if (withOptimizer) {
      // KeyedOptimizer.state_dict()'s param_groups: the sorted parameter keys.
      w.container(`${RANK}/optimizer/param_groups`, 'list');
      w.container(`${RANK}/optimizer/param_groups/0`, 'dict', ['params']);
      w.container(`${RANK}/optimizer/param_groups/0/params`, 'list');
      [...keys].sort().forEach((k, i) => w.primitive(`${RANK}/optimizer/param_groups/0/params/${i}`, strEntry(k)));
    }
    w.container(`${RANK}/extra_state`, 'dict', ['step', 'walltime']);
    w.primitive(`${RANK}/extra_state/step`, intEntry(step));
    w.primitive(`${RANK}/extra_state/walltime`, floatEntry(walltime));
    await w.finish();
    await commitReplace(tmp, dir);
  } catch (e) {
    await abortReplace(tmp);
    // A full disk (ENOSPC) or a quota is an ERR_CHECKPOINT naming the snapshot, as in saveStateDict.
    throw wrapIoError(e, `saving a snapshot to ${dir}`);
  }
}

type Want = (
  logical: string,
  shape: number[],
  dtype: string | undefined,
  apply: (data: Float32Array) => void,
  check?: (data: Float32Array) => string | undefined,
) => void;

interface Planned {
  read: () => Promise<void>;
  /** Why the data read cannot be applied, or undefined. */
  check: () => string | undefined;
  apply: () => void;
}

/** Restores weights, optimizer state and step from `dir`; resolves to the saved step and walltime. */
export async function restoreSnapshot(
  module: Checkpointable,
  dir: string,
  o: ModuleKeyOptions = {},
): Promise<RestoredState> {
  const keyPrefix = o.keyPrefix ?? '';
  const reader = await SnapshotReader.open(await resolveSnapshotDir(dir));
  try {
    const issues: string[] = [];
    const plan: Planned[] = [];
    const want: Want = (logical, shape, dtype, apply, check) => {
      const e = reader.tensorEntry(logical);
      if (!e) {
        issues.push(`${reader.where(logical)} is missing`);
        return;
      }
      let info;
      try {
        info = reader.info(logical);
      } catch (err) {
        issues.push((err as Error).message);
        return;
      }
      const bad: string[] = [];
      if (shapeText(info.shape) !== shapeText(shape))
        bad.push(`shape ${shapeText(info.shape)}, the module has ${shapeText(shape)}`);
      if (dtype && torchDtypeName(info.dtype) !== dtype)
        bad.push(`dtype ${torchDtypeName(info.dtype)}, the module has ${dtype}`);
      if (bad.length > 0) {
        issues.push(`${reader.where(logical)} has ${bad.join(' and ')}`);
        return;
      }
      let data: Float32Array | undefined;
      plan.push({
        read: async () => void (data = await reader.readFloat32(logical, shape)),
        check: () => {
          const issue = check?.(data!);
          return issue === undefined ? undefined : `${reader.where(logical)}: ${issue}`;
        },
        apply: () => apply(data!),
      });
    };

    for (const t of module.tables) {
      want(modelPath(keyPrefix, t.name), tableShape(t), torchDtypeName(tableDtype(t)), (d) =>
        module.setWeights(t.name, d),
      );
    }
    const hasOptimizer = [...reader.entries.keys()].some((p) => p.startsWith('optimizer/'));
    if (hasOptimizer && typeof module.optimizerState === 'function')
      planOptimizer(module, reader, keyPrefix, want, issues);

    const step = reader.primitive('extra_state/step');
    const walltime = reader.primitive('extra_state/walltime') ?? 0;
    if (step !== undefined && (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)) {
      issues.push(`${reader.where('extra_state/step')} is not a non-negative int`);
    }
    if (typeof walltime !== 'number') issues.push(`${reader.where('extra_state/walltime')} is not a number`);
    if (issues.length > 0) {
      const model = [...reader.entries.keys()].filter((p) => p.startsWith('model/')).map((p) => `0/${p}`);
      throw checkpointError(
        `snapshot ${reader.dir} does not match the module: ${issues.join('; ')} ` +
          `(model entries in the snapshot: ${model.length > 0 ? model.join(', ') : 'none'})`,
      );
    }

    for (const p of plan) await p.read();
    const bad = plan.map((p) => p.check()).filter((x): x is string => x !== undefined);
    if (bad.length > 0) {
      throw checkpointError(
        `snapshot ${reader.dir} cannot be restored, nothing was changed: ${bad.slice(0, 10).join('; ')}` +
          (bad.length > 10 ? `; and ${bad.length - 10} more` : ''),
      );
    }
    // Everything is read and checked; from here on nothing can fail for a reason in the snapshot.
    for (const p of plan) p.apply();
    if (step !== undefined) module.setStep?.(step as number);
    return { step: (step as number | undefined) ?? 0, walltime: walltime as number };
  } finally {
    await reader.close();
  }
}

function planOptimizer(
  module: Checkpointable,
  reader: SnapshotReader,
  keyPrefix: string,
  want: Want,
  issues: string[],
): void {
  for (const t of module.tables) {
    const state = module.optimizerState!(t.name);
    const dirPrefix = `optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}/`;
    const stored = [...reader.entries.keys()].filter((p) => p.startsWith(dirPrefix));
    const known = new Set(Object.keys(state).map((n) => optimizerPath(keyPrefix, t.name, n)));
    for (const p of stored) {
      if (!known.has(p)) {
        issues.push(
          `${reader.where(p)}: the module's optimizer keeps no such state for table ${t.name} (a different optimizer?)`,
        );
      }
    }
    for (const [name, current] of Object.entries(state)) {
      if (typeof module.setOptimizerState !== 'function') {
        issues.push(`the module cannot set optimizer state (no setOptimizerState), but the snapshot has it`);
        return;
      }
      // Optimizer state is float32 in FBGEMM; other float dtypes are converted.
      want(
        optimizerPath(keyPrefix, t.name, name),
        optimizerStateShape(t, name, current.length),
        undefined,
        (d) => module.setOptimizerState!(t.name, name, d),
        (d) => optimizerStateIssue(t, name, d),
      );
    }
  }
}
