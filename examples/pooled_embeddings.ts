/**
 * Builds the-algorithm-ml's LargeEmbeddings from a YAML config and prints pooled embeddings for a
 * small batch. Run: npm run example  (or: npx ts-node examples/pooled_embeddings.ts <config.yaml>)
 */
import * as path from 'path';
import { KeyedJaggedTensor, LargeEmbeddings, LargeEmbeddingsConfig, loadConfig, TorchrecError } from '../lib';

async function main(): Promise<void> {
  const file = process.argv[2] ?? path.join(__dirname, 'config', 'large_embeddings.yaml');
  const raw = loadConfig(file) as { model: { embeddings: unknown } };
  const config = new LargeEmbeddingsConfig(raw.model.embeddings);
  const model = new LargeEmbeddings(config, { seed: 42 });
  await model.ready;
  for (const t of config.tables) {
    console.log(`table ${t.name}: ${t.num_embeddings} x ${t.embedding_dim} ${t.data_type}`);
  }

  // Two samples; each table is read by the feature of the same name (the-algorithm-ml's convention).
  // Key-major layout: user lengths for sample 0 and 1, then tweet lengths for sample 0 and 1.
  const kjt = KeyedJaggedTensor.fromLengths({
    keys: ['user', 'tweet'],
    values: new BigInt64Array([7n, 99_999n, 12n, 3n, 3n, 49_999n]),
    lengths: new Int32Array([1, 2, 2, 1]),
  });
  const pooled = await model.forward(kjt);

  console.log(
    `pooled keys ${pooled.keys().join(', ')}; width ${pooled.offsetPerKey().at(-1)}; batch ${pooled.stride()}`,
  );
  const blocks = pooled.toDict();
  for (const key of pooled.keys()) {
    const dim = pooled.lengthPerKey()[pooled.keys().indexOf(key)];
    for (let b = 0; b < pooled.stride(); b++) {
      const row = Array.from(blocks[key].subarray(b * dim, (b + 1) * dim), (x) => x.toFixed(4));
      console.log(`  ${key}[${b}] = [${row.join(', ')}]`);
    }
  }
  model.ebc.dispose();
}

main().catch((e: unknown) => {
  if (e instanceof TorchrecError) console.error(`${e.code}: ${e.message}`);
  else console.error(e);
  process.exit(1);
});
