/**
 * restoreSnapshot into a sharded collection, from a snapshot saved on any number of ranks with any
 * plan, or by one process: each rank reads, for each of its shards, the parts of the saved pieces
 * that overlap it (snapshot_region.ts), the native side checks them without applying (a dry run),
 * the ranks agree on the verdicts, and only then does every rank apply its part. So a snapshot that
 * is bad for any rank — missing or mis-shaped entries, shards that overlap or leave holes, bounds
 * outside the table, state a rule rejects — changes no rank (ERR_CHECKPOINT naming the ranks), and
 * a good one changes all of them. `dir` must be readable by every rank at the same path.
 */
import type { ProcessGroup } from '../distributed/process_group';
import { TorchrecError } from '../errors';
import type { NativeShardState } from '../native';
import { resolveSnapshotDir } from './atomic_dir';
import { Checkpointable, checkpointError, ModuleKeyOptions, shapeText, tableDtype, weightKey } from './checkpointable';
import { torchDtypeName } from './dtypes';
import { agree, modelPath, optimizerPath } from './sharded_snapshot';
import { planManagedRestore } from './managed_ids';
import { keyToFilename } from './snapshot_manifest';
import { SnapshotReader } from './snapshot_reader';
import { readRegion } from './snapshot_region';
import type { RestoredState } from './snapshot';

export function restoreShardedSnapshot(
  module: Checkpointable,
  pg: ProcessGroup,
  dir: string,
  o: ModuleKeyOptions = {},
): Promise<RestoredState> {
  return module.inCallOrder(async (m) => {
    if (!m.exportShards || !m.importShards) {
      throw new TorchrecError('ERR_INTERNAL', 'restoreSnapshot: the module has no shards to import');
    }
    const { shards } = await m.exportShards(false, false);
    let local: { imports: NativeShardState[]; step?: number; walltime: number } | undefined;
    let error: string | undefined;
    try {
      local = await readLocal(module, shards, dir, o.keyPrefix ?? '');
      await m.importShards(local.imports, local.step, false);
    } catch (e) {
      error = (e as Error).message;
    }
    await agree(pg, error, `snapshot ${dir} cannot be restored, nothing was changed`);
    await m.importShards(local!.imports, local!.step, true);
    return { step: local!.step ?? 0, walltime: local!.walltime };
  });
}

async function readLocal(
  module: Checkpointable,
  shards: NativeShardState[],
  dir: string,
  keyPrefix: string,
): Promise<{ imports: NativeShardState[]; step?: number; walltime: number }> {
  const reader = await SnapshotReader.open(await resolveSnapshotDir(dir));
  try {
    const issues: string[] = [];
    const check = (logical: string, shape: number[], dtype: string | undefined): boolean => {
      if (!reader.tensorEntry(logical)) {
        issues.push(`${reader.where(logical)} is missing`);
        return false;
      }
      try {
        const info = reader.info(logical);
        const bad: string[] = [];
        if (shapeText(info.shape) !== shapeText(shape))
          bad.push(`shape ${shapeText(info.shape)}, the module has ${shapeText(shape)}`);
        if (dtype && torchDtypeName(info.dtype) !== dtype)
          bad.push(`dtype ${torchDtypeName(info.dtype)}, the module has ${dtype}`);
        if (bad.length > 0) issues.push(`${reader.where(logical)} has ${bad.join(' and ')}`);
        return bad.length === 0;
      } catch (err) {
        issues.push((err as Error).message);
        return false;
      }
    };
    const hasOptimizer = [...reader.entries.keys()].some((p) => p.startsWith('optimizer/'));
    const reads: (() => Promise<void>)[] = [];
    const imports: NativeShardState[] = [];
    for (const t of module.tables) {
      const shape = [t.num_embeddings, t.embedding_dim];
      const weight = modelPath(keyPrefix, t.name);
      const okWeight = check(weight, shape, torchDtypeName(tableDtype(t)));
      const layout = hasOptimizer ? module.optimizerStateLayout(t.name) : [];
      if (hasOptimizer) {
        const prefix = `optimizer/state/${keyToFilename(weightKey(keyPrefix, t.name))}/`;
        const known = new Set(layout.map((s) => optimizerPath(keyPrefix, t.name, s.name)));
        for (const p of reader.entries.keys()) {
          if (p.startsWith(prefix) && !known.has(p)) {
            issues.push(
              `${reader.where(p)}: the module's optimizer keeps no such state for table ${t.name} (a different optimizer?)`,
            );
          }
        }
      }
      const okStates = layout.map((s) => check(optimizerPath(keyPrefix, t.name, s.name), s.shape, undefined));
      for (const s of shards.filter((x) => x.table === t.name)) {
        const entry: NativeShardState = { ...s, weight: null, state: {} };
        delete entry.replicated;
        imports.push(entry);
        if (okWeight) {
          reads.push(async () => {
            entry.weight = await readRegion(reader, weight, shape, [s.firstRow, s.firstCol], [s.rows, s.cols]);
          });
        }
        layout.forEach((st, k) => {
          if (!okStates[k]) return;
          const perRow = st.shape.length === 1;
          reads.push(async () => {
            entry.state![st.name] = await readRegion(
              reader,
              optimizerPath(keyPrefix, t.name, st.name),
              st.shape,
              perRow ? [s.firstRow] : [s.firstRow, s.firstCol],
              perRow ? [s.rows] : [s.rows, s.cols],
            );
          });
        });
      }
    }
    // Each shard of a managed table gets the whole map; the native side checks it and takes its part.
    reads.push(
      ...planManagedRestore(reader, module.tables, keyPrefix, issues, (table, state) => {
        for (const entry of imports) if (entry.table === table) entry.managed = state;
      }),
    );
    const step = reader.primitive('extra_state/step');
    const walltime = reader.primitive('extra_state/walltime') ?? 0;
    if (step !== undefined && (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)) {
      issues.push(`${reader.where('extra_state/step')} is not a non-negative int`);
    }
    if (typeof walltime !== 'number') issues.push(`${reader.where('extra_state/walltime')} is not a number`);
    if (issues.length > 0)
      throw checkpointError(`snapshot ${reader.dir} does not match the module: ${issues.join('; ')}`);
    for (const read of reads) await read();
    return { imports, step: step as number | undefined, walltime: walltime as number };
  } finally {
    await reader.close();
  }
}
