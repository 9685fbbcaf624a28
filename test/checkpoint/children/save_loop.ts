/**
 * Child process of the kill-mid-save test: saves a ~26 MB module into argv[2] over and over, with
 * steps argv[3], argv[3]+1, …, setting every table (and its optimizer state) to pattern(step) first,
 * and prints `saved <step>` after each save returns. The test SIGKILLs it at a random moment.
 */
import { EmbeddingBagCollection } from '../../../lib';
import { saveSnapshot } from '../../../lib/checkpoint';
import { CHILD_TABLES, pattern } from './pattern';

async function main(): Promise<void> {
  const [dir, first] = process.argv.slice(2);
  const ebc = new EmbeddingBagCollection({ tables: CHILD_TABLES, seed: 1 });
  for (let step = Number(first); ; step++) {
    for (const t of ebc.tables) {
      ebc.setWeights(t.name, pattern(step, t.num_embeddings * t.embedding_dim));
      for (const [name, cur] of Object.entries(ebc.optimizerState(t.name))) {
        ebc.setOptimizerState(t.name, name, pattern(step, cur.length, 0.5));
      }
    }
    await saveSnapshot(ebc, dir, { step, walltime: step / 4 });
    process.stdout.write(`saved ${step}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
