/**
 * Loads a trained TwHIN snapshot in a fresh process and prints each given user's top tweets under
 * a relation, with the planted community of each. Run:
 *   npx ts-node examples/twhin/nearest.ts <config.yaml> <communities> <user> [<user> ...]
 */
import { loadConfig, newestSnapshot, TorchrecError } from '../../lib';
import { TwhinConfig } from './config';
import { communityOf } from './generate';
import { TwhinModel } from './model';

async function main(): Promise<void> {
  const [file, k, ...users] = process.argv.slice(2);
  const config = new TwhinConfig(loadConfig(file));
  const K = Number(k);
  const found = await newestSnapshot(config.training.save_dir);
  if (!found) throw new TorchrecError('ERR_CHECKPOINT', `no complete snapshot in ${config.training.save_dir}`);
  const model = new TwhinModel(config.model, config.train_data);
  const restored = await model.embeddings.restoreSnapshot(found.dir);
  model.restore(found.state.extra);
  console.log(`fresh process ${process.pid}: restored ${found.dir} (step ${restored.step})`);

  const rel = 0;
  const relation = config.model.relations[rel];
  const D = model.dim;
  const U = model.embeddings.ebc.getWeights(relation.lhs);
  const W = model.embeddings.ebc.getWeights(relation.rhs);
  const tweets = W.length / D;
  for (const u of users.map(Number)) {
    const q = Float32Array.from({ length: D }, (_, d) => U[u * D + d] + model.translation[rel * D + d]);
    const scores = Array.from({ length: tweets }, (_, t) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[d] * W[t * D + d];
      return { t, s };
    }).sort((a, b) => b.s - a.s);
    const top = scores.slice(0, 5).map(({ t, s }) => `${t} (c${communityOf(t, K)}, ${s.toFixed(2)})`);
    console.log(`user ${u} (community ${communityOf(u, K)}) ${relation.name} -> ${top.join(', ')}`);
  }
  model.embeddings.ebc.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof TorchrecError ? `${e.code}: ${e.message}` : e);
  process.exit(1);
});
