/**
 * What a collection's `ready` waits for: its `pretrained` tables and its vocabularies, loaded after
 * construction. Until each has loaded, forward and backward are refused with what is still loading
 * (or the error it failed with).
 */
import * as checkpoint from './checkpoint';
import type { Checkpointable } from './checkpoint/checkpointable';
import type { EmbeddingBagConfig } from './config/embedding';
import { TorchrecError } from './errors';
import type { NativeEmbeddingBagCollection } from './native';
import { describeDuplicate, loadVocab } from './vocab';

export class PendingLoads {
  /** e.g. 'the vocabulary of table "user"' → null while loading, or the error it failed with. */
  private readonly loading = new Map<string, Error | null>();

  /** Refuses `method` while anything is loading or has failed to. */
  check(method: string): void {
    if (this.loading.size === 0) return; // the common case, without an iterator per call
    for (const [what, error] of this.loading) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        error
          ? `${method}: ${what} failed to load (${error.message}); this collection cannot run until it does`
          : `await ebc.ready before ${method}: ${what} is still loading`,
      );
    }
  }

  /** Tracks `what` while `load` runs: cleared when it resolves, kept with its error when it rejects. */
  async track(what: readonly string[], load: () => Promise<void>): Promise<void> {
    for (const w of what) this.loading.set(w, null);
    try {
      await load();
      for (const w of what) this.loading.delete(w);
    } catch (e) {
      for (const w of what) this.loading.set(w, e as Error);
      throw e;
    }
  }
}

/** Loads every `pretrained` table of `module` from its snapshot. */
export function loadPretrained(module: Checkpointable, loads: PendingLoads): Promise<void> {
  const what = module.tables.filter((t) => t.pretrained !== undefined).map((t) => `the pretrained table "${t.name}"`);
  if (what.length === 0) return Promise.resolve();
  return loads.track(what, () => checkpoint.loadPretrainedTables(module));
}

/**
 * Loads every table's vocab in parallel and hands each to the native map as it arrives (`handle()`:
 * null once the collection is disposed).
 */
export async function loadVocabs(
  tables: readonly EmbeddingBagConfig[],
  oov: Record<string, number>,
  loads: PendingLoads,
  handle: () => NativeEmbeddingBagCollection | null,
): Promise<void> {
  await Promise.all(
    tables
      .filter((t) => t.vocab !== undefined)
      .map((t) =>
        loads.track([`the vocabulary of table "${t.name}"`], async () => {
          const vocab = await loadVocab(t.name, t.vocab as string, t.num_embeddings);
          const native = handle();
          if (!native) return; // disposed meanwhile
          try {
            native.setVocab(t.name, vocab.ids, vocab.rows, oov[t.name] ?? -1);
          } catch (e) {
            const d = (e as { details?: { first?: number; second?: number } }).details;
            if (d?.first === undefined || d.second === undefined) throw e;
            throw describeDuplicate(t.name, vocab, d.first, d.second);
          }
        }),
      ),
  );
}
