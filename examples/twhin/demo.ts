/**
 * End-to-end TwHIN demo: generates a planted-community graph to parquet, writes a config in the
 * schema of the-algorithm-ml's projects/twhin/config/local.yaml, trains (loss falling, held-out
 * AUC/MRR against in-batch negatives), snapshots, then reloads the snapshot in a fresh process and
 * prints the nearest tweets of a few users. Run: npm run demo
 *
 * `npm run demo -- --nproc N` trains on N ranks instead (torchrec-node-run starts them on this
 * machine): the user table row-wise, the tweet table table-wise, each rank training on 1/N of every
 * batch, so the global batch and the step count are those of the one-process run. `--managed-ids`
 * adds a run whose tables take raw hashed 64-bit ids (managed ids) and prints its AUC beside the plain one.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { stringify } from 'yaml';
import { loadConfig, setNumThreads, TorchrecError } from '../../lib';
import type { ManagedIdStats, TrainResult } from '../../lib';
import { TwhinConfig } from './config';
import { demoConfig } from './demo_config';
import { generateGraph } from './generate';
import { runTwhin } from './run';

const K = 8;
const SIZES = { users: 4000, tweets: 2000, relations: 4, dim: 16, batchSize: 256, negatives: 10, steps: 1500, lr: 0.5 };

/** MRR of random scores: the positive's rank is uniform on 1..N+1. */
const chanceMrr = (n: number): number =>
  Array.from({ length: n + 1 }, (_, i) => 1 / (i + 1)).reduce((a, b) => a + b) / (n + 1);

/** Trains in this process, from the config loaded back from the YAML exactly as a user's would be. */
async function trainHere(configFile: string): Promise<TrainResult> {
  setNumThreads(2);
  const { model, result } = await runTwhin(new TwhinConfig(loadConfig(configFile)));
  model.embeddings.ebc.dispose();
  return result;
}

/** Trains on `nproc` ranks of this machine through the launcher; rank 0 writes the result. */
type ShardedRun = TrainResult & { managedIdStats: Record<string, ManagedIdStats> };

function trainSharded(configFile: string, nproc: number, work: string, name = 'result.json'): ShardedRun {
  const resultFile = path.join(work, name);
  const launcher = path.join(__dirname, '..', '..', 'bin', 'torchrec-node-run.js');
  const script = path.join(__dirname, 'sharded.ts');
  const args = ['--nproc-per-node', String(nproc), script, configFile, '--plan', PLAN, '--result', resultFile];
  console.log(`training on ${nproc} ranks: torchrec-node-run ${args.join(' ')}`);
  const child = spawnSync(process.execPath, [launcher, ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} -r ts-node/register/transpile-only` },
  });
  if (child.status !== 0) throw new Error(`sharded training failed (launcher status ${child.status})`);
  return JSON.parse(readFileSync(resultFile, 'utf8')) as ShardedRun;
}

const PLAN = 'user=row_wise,tweet=table_wise';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nproc: { type: 'string', default: '1' }, 'managed-ids': { type: 'boolean', default: false } },
  });
  const nproc = Number(values.nproc);
  if (!Number.isInteger(nproc) || nproc < 1) {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', `--nproc must be a positive integer, got ${values.nproc}`);
  }
  const started = Date.now();
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
  // per_replica_batch_size is each rank's share, so N ranks keep the one-process global batch.
  const trainSizes = { ...SIZES, batchSize: SIZES.batchSize / nproc };
  const config = demoConfig(data, path.join(work, 'model'), trainSizes);
  (config.validation_data as { per_replica_batch_size: number }).per_replica_batch_size = SIZES.batchSize;
  writeFileSync(configFile, stringify(config));
  console.log(`work dir ${work}: ${K} communities, ${SIZES.users} users, ${SIZES.tweets} tweets; config ${configFile}`);

  const result = nproc > 1 ? trainSharded(configFile, nproc, work) : await trainHere(configFile);
  const ev = result.lastEval ?? {};
  console.log(
    `trained ${result.step} steps in ${result.walltime.toFixed(1)} s; final loss ${result.lastLoss.toFixed(4)}; ` +
      `held-out AUC ${Number(ev.auc).toFixed(3)} (chance 0.5), MRR ${Number(ev.mrr).toFixed(3)} ` +
      `(chance ${chanceMrr(SIZES.negatives).toFixed(3)} with ${SIZES.negatives} in-batch negatives)`,
  );
  if (values['managed-ids']) await managedVariant(work, data, Number(ev.auc), nproc);

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

/**
 * The same job with managed ids: raw hashed ids, fewer rows than entities; its AUC beside the plain
 * run's. On N ranks with the same plan: the user table's map is one per row-wise shard.
 */
async function managedVariant(
  work: string,
  data: { train: string; validation: string },
  plainAuc: number,
  nproc: number,
): Promise<void> {
  const variant = { rowFraction: 0.75, evictionInterval: 50 };
  const file = path.join(work, 'twhin-managed.yaml');
  const config = demoConfig(
    data,
    path.join(work, 'model-managed'),
    { ...SIZES, batchSize: SIZES.batchSize / nproc },
    variant,
  );
  (config.validation_data as { per_replica_batch_size: number }).per_replica_batch_size = SIZES.batchSize;
  writeFileSync(file, stringify(config));
  let result: TrainResult;
  let stats: Record<string, ManagedIdStats>;
  if (nproc > 1) {
    const run = trainSharded(file, nproc, work, 'result-managed.json');
    [result, stats] = [run, run.managedIdStats];
  } else {
    const { result: r, model } = await runTwhin(new TwhinConfig(loadConfig(file)));
    [result, stats] = [r, model.embeddings.ebc.managedIdStats()];
  }
  const ev = result.lastEval ?? {};
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
