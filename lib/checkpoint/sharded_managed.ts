/**
 * Managed-id maps in sharded snapshots. A shard's owner holds its part of its table's map (rows
 * global), so saving gathers the parts (allgatherv, table by table, in table order) into the whole
 * map, which rank 0 writes once as replicated `model/...managed_*` tensors: the keys, dtypes and
 * shapes of the one-process layout (managed_ids.ts), so either kind of collection restores either
 * kind of snapshot. A restore reads the whole map and hands it to each of the table's shards; the
 * native side checks it against the layout on every rank and each shard takes its part.
 */
import type { EmbeddingBagConfig } from '../config/embedding';
import { allgatherv } from '../distributed/collectives';
import type { ProcessGroup } from '../distributed/process_group';
import type { NativeShardState } from '../native';
import { isManaged, MANAGED_PARTS, packManaged, PackedManaged } from './managed_ids';

const ROW_ELEMS = { managed_residents: 4, managed_waiting: 3, managed_counters: 4 } as const;

/** Every managed table's whole map, packed (a collective: every rank calls it with its own shards). */
export async function gatherManaged(
  pg: ProcessGroup,
  tables: readonly EmbeddingBagConfig[],
  shards: readonly NativeShardState[],
): Promise<Map<string, PackedManaged>> {
  const out = new Map<string, PackedManaged>();
  for (const t of tables.filter(isManaged)) {
    const mine = shards.find((s) => s.table === t.name && s.managed !== undefined);
    const packed = mine ? packManaged(mine.managed!) : undefined;
    const whole = {} as PackedManaged;
    for (const part of MANAGED_PARTS) {
      const data = packed?.[part].data ?? new BigInt64Array(0);
      const parts = await allgatherv(pg, data, ROW_ELEMS[part]);
      if (part === 'managed_counters') {
        const sums = new BigInt64Array(4);
        for (const p of parts) p.forEach((v, i) => (sums[i] += v));
        whole[part] = { data: sums, shape: [4] };
        continue;
      }
      const rows = parts.reduce((n, p) => n + p.length, 0) / ROW_ELEMS[part];
      const all = new BigInt64Array(rows * ROW_ELEMS[part]);
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      whole[part] = { data: all, shape: [rows, ROW_ELEMS[part]] };
    }
    out.set(t.name, whole);
  }
  return out;
}
