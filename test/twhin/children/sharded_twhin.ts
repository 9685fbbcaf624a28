/**
 * One rank of test/twhin/sharded.test.ts: `sharded_twhin.ts <config.json> <steps>`, the group from
 * torchrun's variables. Trains the TwHIN model with its tables sharded (user row-wise, tweet
 * table-wise) and prints, on rank 0, the losses and the whole tables as one JSON line.
 */
import { readFileSync } from 'fs';
import { ProcessGroup } from '../../../lib';
import { TwhinConfig } from '../../../examples/twhin/config';
import { batchIndices, loadEdges } from '../../../examples/twhin/data';
import { TwhinModel } from '../../../examples/twhin/model';

async function main(): Promise<void> {
  const config = new TwhinConfig(JSON.parse(readFileSync(process.argv[2], 'utf8')));
  const steps = Number(process.argv[3]);
  const pg = await ProcessGroup.init({ timeoutMs: 20_000 });
  const model = new TwhinModel(config.model, config.train_data, 0, {
    processGroup: pg,
    plan: { user: 'row_wise', tweet: 'table_wise' },
  });
  await model.embeddings.ready;
  const edges = await loadEdges(config.train_data.data_root, config.model);
  const B = config.train_data.per_replica_batch_size * pg.worldSize;
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    losses.push(await model.trainStep(edges, batchIndices(edges.lhs.length, B, step, 0), step));
  }
  const user = await model.embeddings.ebc.getWeights('user');
  const tweet = await model.embeddings.ebc.getWeights('tweet');
  if (pg.rank === 0) {
    const out = {
      losses,
      user: Array.from(user),
      tweet: Array.from(tweet),
      translation: Array.from(model.translation),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  model.embeddings.ebc.dispose();
  pg.destroy();
}

main().catch((e: unknown) => {
  const err = e as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
  process.exit(1);
});
