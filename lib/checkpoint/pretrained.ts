/**
 * `pretrained` tables (EmbeddingSnapshot {emb_name, embedding_snapshot_uri}) start from a tensor of
 * another torchsnapshot snapshot, as in the-algorithm-ml's `load_snapshot_to_weight`. Which tensor:
 * among the tensor entries on rank 0, the one whose path ends in `embedding_bags.<emb_name>.weight`;
 * failing that, the one path that contains `emb_name`; several candidates is an error listing them
 * (the-algorithm-ml silently took the last one, which picked optimizer state by accident).
 */
import * as path from 'path';
import { fileURLToPath } from 'url';
import { EmbeddingBagConfig } from '../config/embedding';
import { resolveSnapshotDir } from './atomic_dir';
import { Checkpointable, checkpointError, StateAccess, tableShape } from './checkpointable';
import { isTensorLike, splitPath } from './snapshot_manifest';
import { SnapshotReader } from './snapshot_reader';

/** A local directory for the uri: a plain path or file://; remote stores are not supported. */
function localDir(uri: string, table: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw checkpointError(
      `table ${table}: pretrained.embedding_snapshot_uri ${uri}: only local paths and file:// URIs are supported; ` +
        'copy the snapshot locally first',
    );
  }
  return path.resolve(uri);
}

/** The manifest path (rank 0) holding `embName`'s weights, by the rule in the file comment. */
export function selectPretrainedPath(reader: SnapshotReader, embName: string, table: string): string {
  const paths = Object.entries(reader.metadata.manifest)
    .filter(([p, e]) => splitPath(p)[0] === 0 && isTensorLike(e))
    .map(([p]) => p);
  const exact = paths.filter((p) => p.endsWith(`embedding_bags.${embName}.weight`));
  const candidates = exact.length > 0 ? exact : paths.filter((p) => p.includes(embName));
  const where = `table ${table}: pretrained snapshot ${reader.dir}`;
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) {
    throw checkpointError(
      `${where} has no tensor for emb_name ${JSON.stringify(embName)}; its tensors: ${paths.join(', ') || 'none'}`,
    );
  }
  throw checkpointError(
    `${where}: emb_name ${JSON.stringify(embName)} is ambiguous, candidates: ${candidates.join(', ')}; ` +
      'name the table in the snapshot more precisely',
  );
}

/**
 * Loads every table of `tables` (default: the module's) that has `pretrained`. All are read and
 * checked before any is set: one bad table leaves the module untouched. Float dtypes convert as
 * torch's copy_ would; the shape must equal the table's.
 */
export function loadPretrainedTables(
  module: Checkpointable,
  tables: readonly EmbeddingBagConfig[] = module.tables,
): Promise<void> {
  return module.inCallOrder((m) => loadInOrder(module, m, tables));
}

async function loadInOrder(
  module: Checkpointable,
  m: StateAccess,
  tables: readonly EmbeddingBagConfig[],
): Promise<void> {
  const readers = new Map<string, Promise<SnapshotReader>>();
  const loaded: [string, Float32Array][] = [];
  try {
    for (const cfg of tables) {
      if (!cfg.pretrained) continue;
      const t = module.tables.find((x) => x.name === cfg.name);
      if (!t) throw checkpointError(`pretrained: the module has no table ${cfg.name}`);
      const dir = localDir(cfg.pretrained.embedding_snapshot_uri, t.name);
      if (!readers.has(dir))
        readers.set(
          dir,
          resolveSnapshotDir(dir).then((d) => SnapshotReader.open(d)),
        );
      const reader = await readers.get(dir)!;
      const chosen = selectPretrainedPath(reader, cfg.pretrained.emb_name, t.name);
      try {
        loaded.push([t.name, await reader.readFloat32(splitPath(chosen)[1], tableShape(t))]);
      } catch (e) {
        throw checkpointError(`table ${t.name}: pretrained: ${(e as Error).message}`);
      }
    }
  } finally {
    for (const r of await Promise.allSettled(readers.values())) if (r.status === 'fulfilled') await r.value.close();
  }
  if (loaded.length > 0) await m.importState(Object.fromEntries(loaded.map(([name, weight]) => [name, { weight }])));
}
