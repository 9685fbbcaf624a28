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
 *
 * A sharded collection (one with a processGroup) saves and restores collectively, in torchsnapshot's
 * sharded layout: sharded_snapshot.ts and sharded_restore.ts.
 */
import type { NativeStateImport } from '../native';
import { SnapshotExtra, validateSnapshotExtra } from '../options/checkpoint';
import { abortReplace, beginReplace, commitReplace, resolveSnapshotDir } from './atomic_dir';
import {
  Checkpointable,
  checkpointError,
  ModuleKeyOptions,
  StateAccess,
  wrapIoError,
  shapeText,
  tableDtype,
  tableShape,
  weightKey,
} from './checkpointable';
import { torchDtypeName } from './dtypes';
import { managedModelKeys, planManagedRestore, writeManagedSnapshot } from './managed_ids';
import { floatEntry, intEntry, keyToFilename, strEntry } from './snapshot_manifest';
import { restoreShardedSnapshot } from './sharded_restore';
import { saveShardedSnapshot } from './sharded_snapshot';
import { SnapshotReader } from './snapshot_reader';
import { snapshotMappedSource } from './mapped_source';
import type { RestoreSnapshotOptions } from '../options/checkpoint';
import { SnapshotWriter } from './snapshot_writer';
import { joinStoredRows, QBIAS, QSCALE, splitStoredRows, storedRowBytes } from './quantized_state';

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
  if (module.processGroup) return saveShardedSnapshot(module, module.processGroup, dir, extra, o);
  const keyPrefix = o.keyPrefix ?? '';
  const options = validateSnapshotExtra(extra);
  // One read in call order: exactly the state after the calls made before this one.
  const names = module.tables.map((t) => t.name);
  const state = await module.inCallOrder((m) => m.exportState(names, true));
  const step = options.step ?? state.step;
  const walltime = options.walltime;
  const tmp = await beginReplace(dir);
  try {
    const w = new SnapshotWriter(tmp);
    const keys = module.tables.map((t) => weightKey(keyPrefix, t.name));
    // A quantized table adds TorchRec's QuantEBC scale and bias keys after its weight.
    const modelKeys = module.tables.flatMap((t, i) =>
      storedRowBytes(t) > 0 ? [keys[i], keys[i] + QSCALE, keys[i] + QBIAS] : [keys[i]],
    );
    w.container(`${RANK}/model`, 'OrderedDict', [...modelKeys, ...managedModelKeys(module.tables, keyPrefix)]);
    w.container(`${RANK}/optimizer`, 'dict', ['state', 'param_groups']);
    w.container(`${RANK}/optimizer/state`, 'dict', keys);
    for (const t of module.tables) {
      const table = state.tables[t.name];
      const rowBytes = storedRowBytes(t);
      if (rowBytes > 0) {
        const n = t.num_embeddings;
        const { codes, scale, bias } = splitStoredRows(table.weight as Uint8Array, n, rowBytes);
        const base = `${RANK}/${modelPath(keyPrefix, t.name)}`;
        await w.tensor(base, codes, 'uint8', [n, rowBytes - 4]);
        await w.tensor(base + QSCALE, new Uint16Array(scale.buffer), 'float16', [n, 1]);
        await w.tensor(base + QBIAS, new Uint16Array(bias.buffer), 'float16', [n, 1]);
      } else {
        await w.tensor(
          `${RANK}/${modelPath(keyPrefix, t.name)}`,
          table.weight as Float32Array | Uint16Array,
          tableDtype(t),
          tableShape(t),
        );
      }
      await writeManagedSnapshot(w, RANK, keyPrefix, t, table.managed);
      const layout = module.optimizerStateLayout(t.name);
      w.container(
        `${RANK}/optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}`,
        'dict',
        layout.map((s) => `${t.name}.${s.name}`),
      );
      for (const s of layout) {
        await w.tensor(`${RANK}/${optimizerPath(keyPrefix, t.name, s.name)}`, table.state[s.name], 'float32', s.shape);
      }
    }
    // KeyedOptimizer.state_dict()'s param_groups: the sorted parameter keys.
    w.container(`${RANK}/optimizer/param_groups`, 'list');
    w.container(`${RANK}/optimizer/param_groups/0`, 'dict', ['params']);
    w.container(`${RANK}/optimizer/param_groups/0/params`, 'list');
    [...keys].sort().forEach((k, i) => w.primitive(`${RANK}/optimizer/param_groups/0/params/${i}`, strEntry(k)));
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
  keep: (data: Float32Array) => void,
  codes?: boolean,
) => void;

/**
 * Restores weights, optimizer state and step from `dir`; resolves to the saved step and walltime.
 * With `mmap`, tables whose stored bytes can be used in place are mapped (mapped_source.ts) and the
 * module becomes read-only; optimizer state is then not read (a serving module does not train).
 */
export function restoreSnapshot(
  module: Checkpointable,
  dir: string,
  o: ModuleKeyOptions & RestoreSnapshotOptions = {},
): Promise<RestoredState> {
  if (module.processGroup) return restoreShardedSnapshot(module, module.processGroup, dir, o);
  return module.inCallOrder((m) => restoreInOrder(module, m, dir, o));
}

async function restoreInOrder(
  module: Checkpointable,
  m: StateAccess,
  dir: string,
  o: ModuleKeyOptions & RestoreSnapshotOptions,
): Promise<RestoredState> {
  const keyPrefix = o.keyPrefix ?? '';
  const reader = await SnapshotReader.open(await resolveSnapshotDir(dir));
  try {
    const issues: string[] = [];
    const reads: (() => Promise<void>)[] = [];
    const want: Want = (logical, shape, dtype, keep, codes) => {
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
      reads.push(async () => keep(await reader.readFloat32(logical, shape, { codes })));
    };

    const tables: NativeStateImport = {};
    for (const t of module.tables) {
      const table: NativeStateImport[string] = (tables[t.name] = o.mmap ? { serve: true } : {});
      const logical = modelPath(keyPrefix, t.name);
      const rowBytes = storedRowBytes(t);
      if (rowBytes > 0 && reader.tensorEntry(logical) && reader.info(logical).dtype === 'uint8') {
        // A quantized snapshot (QuantEBC keys): codes, scale and bias joined into the stored rows.
        const n = t.num_embeddings;
        const parts: Float32Array[] = [];
        const joinWhenRead = () => {
          if (parts.length === 3 && parts.every(Boolean)) {
            table.weight = joinStoredRows(Uint8Array.from(parts[0]), parts[1], parts[2], n);
          }
        };
        want(logical, [n, rowBytes - 4], 'torch.uint8', (d) => ((parts[0] = d), joinWhenRead()), true);
        want(logical + QSCALE, [n, 1], undefined, (d) => ((parts[1] = d), joinWhenRead()));
        want(logical + QBIAS, [n, 1], undefined, (d) => ((parts[2] = d), joinWhenRead()));
        continue;
      }
      // Float weights; an int table quantizes them on import.
      const dtype = rowBytes > 0 ? undefined : torchDtypeName(tableDtype(t));
      const before = reads.length;
      want(logical, tableShape(t), dtype, (d) => (table.weight = d));
      // A mappable table replaces its read with a mapping; the others stay reads (tableStorage: 'memory').
      const read = o.mmap && rowBytes === 0 && reads.length > before ? reads[before] : undefined;
      if (read) {
        reads[before] = async () => {
          table.mapped = await snapshotMappedSource(reader, logical, tableDtype(t), tableShape(t));
          if (!table.mapped) await read();
        };
      }
    }
    const hasOptimizer = !o.mmap && [...reader.entries.keys()].some((p) => p.startsWith('optimizer/'));
    if (hasOptimizer) planOptimizer(module, reader, keyPrefix, want, issues, tables);
    reads.push(...planManagedRestore(reader, module.tables, keyPrefix, issues, (t, s) => (tables[t].managed = s)));

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

    for (const read of reads) await read();
    // The core checks every value (finite, state >= 0 where the rule takes its root) before it
    // changes anything, and applies all of it in this call's place in call order.
    try {
      await m.importState(tables, step as number | undefined);
    } catch (e) {
      throw checkpointError(`snapshot ${reader.dir} cannot be restored, nothing was changed: ${(e as Error).message}`);
    }
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
  tables: NativeStateImport,
): void {
  for (const t of module.tables) {
    const layout = module.optimizerStateLayout(t.name);
    const dirPrefix = `optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}/`;
    const stored = [...reader.entries.keys()].filter((p) => p.startsWith(dirPrefix));
    const known = new Set(layout.map((s) => optimizerPath(keyPrefix, t.name, s.name)));
    for (const p of stored) {
      if (!known.has(p)) {
        issues.push(
          `${reader.where(p)}: the module's optimizer keeps no such state for table ${t.name} (a different optimizer?)`,
        );
      }
    }
    const state: Record<string, Float32Array> = (tables[t.name].state = {});
    for (const s of layout) {
      // Optimizer state is float32 in FBGEMM; other float dtypes are converted.
      want(optimizerPath(keyPrefix, t.name, s.name), s.shape, undefined, (d) => (state[s.name] = d));
    }
  }
}
