/**
 * End-to-end TwHIN demo: generates a planted-community graph to parquet, writes a config in the
 * schema of the-algorithm-ml's projects/twhin/config/local.yaml, trains (loss falling, held-out
 * AUC/MRR against in-batch negatives), snapshots, then reloads the snapshot in a fresh process and
 * prints the nearest tweets of a few users. Run: npm run demo
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { loadConfig, setNumThreads, TorchrecError } from '../../lib';
import { TwhinConfig } from './config';
import { demoConfig } from './demo_config';
import { generateGraph } from './generate';
import { runTwhin } from './run';

const K = 8;
const SIZES = { users: 4000, tweets: 2000, relations: 4, dim: 16, batchSize: 256, negatives: 10, steps: 1500, lr: 0.5 };

/** MRR of random scores: the positive's rank is uniform on 1..N+1. */
const chanceMrr = (n: number): number =>
  Array.from({ length: n + 1 }, (_, i) => 1 / (i + 1)).reduce((a, b) => a + b) / (n + 1);

async function main(): Promise<void> {
  const started = Date.now();
  setNumThreads(2);
  const work = mkdtempSync(path.join(os.tmpdir(), 'twhin-demo-'));
  const data = await generateGraph(path.join(work, 'data'), {
    users: SIZES.users,
    tweets: SIZES.tweets,
    communities: K,
    relations: SIZES.relations,
    trainEdges: 80_000,
    validationEdges: 5_120,
  });
  const configFile = path.join(work, 'twhin.yaml');
  writeFileSync(configFile, stringify(demoConfig(data, path.join(work, 'model'), SIZES)));
  console.log(`work dir ${work}: ${K} communities, ${SIZES.users} users, ${SIZES.tweets} tweets; config ${configFile}`);

  // Loaded back from the YAML, exactly as a user's config would be.
  const config = new TwhinConfig(loadConfig(configFile));
  const { result } = await runTwhin(config);
  const ev = result.lastEval ?? {};
  console.log(
    `trained ${result.step} steps in ${result.walltime.toFixed(1)} s; final loss ${result.lastLoss.toFixed(4)}; ` +
      `held-out AUC ${Number(ev.auc).toFixed(3)} (chance 0.5), MRR ${Number(ev.mrr).toFixed(3)} ` +
      `(chance ${chanceMrr(SIZES.negatives).toFixed(3)} with ${SIZES.negatives} in-batch negatives)`,
  );
  if (process.argv.includes('--managed-ids')) await managedVariant(work, data, Number(ev.auc));

  const child = spawnSync(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      path.join(__dirname, 'nearest.ts'),
      configFile,
      String(K),
      '0',
      '1',
      '2',
      '3',
    ],
    { stdio: 'inherit', env: process.env },
  );
  if (child.status !== 0) throw new Error(`nearest-tweets process failed (status ${child.status})`);
  console.log(`demo done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** The same job with managed ids: raw hashed ids, fewer rows than entities; its AUC beside the plain run's. */
async function managedVariant(
  work: string,
  data: { train: string; validation: string },
  plainAuc: number,
): Promise<void> {
  const variant = { rowFraction: 0.75, evictionInterval: 50 };
  const file = path.join(work, 'twhin-managed.yaml');
  writeFileSync(file, stringify(demoConfig(data, path.join(work, 'model-managed'), SIZES, variant)));
  const { result, model } = await runTwhin(new TwhinConfig(loadConfig(file)));
  const ev = result.lastEval ?? {};
  const stats = model.embeddings.ebc.managedIdStats();
  console.log(
    `managed ids (${variant.rowFraction * 100}% of the entities' rows, lfu, a pass every ${variant.evictionInterval} ` +
      `steps): held-out AUC ${Number(ev.auc).toFixed(3)} beside ${plainAuc.toFixed(3)} plain, MRR ` +
      `${Number(ev.mrr).toFixed(3)}; ${Object.entries(stats)
        .map(([t, s]) => `${t}: ${s.residents} residents, ${s.evicted} evicted, ${s.defaultRowHits} default-row hits`)
        .join('; ')}`,
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof TorchrecError ? `${e.code}: ${e.message}` : e);
  process.exit(1);
});
