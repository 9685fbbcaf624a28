/**
 * Trains TwHIN from a config with the schema of the-algorithm-ml's projects/twhin/config/local.yaml
 * (projects/twhin/run.py). Run: npx ts-node examples/twhin/run.ts <config.yaml>
 * Data problems, a bad config and an unwritable save_dir all fail before the first step.
 */
import { loadConfig, train, TorchrecError } from '../../lib';
import type { Reporter, TrainResult } from '../../lib';
import { TwhinConfig, TwhinDataConfig } from './config';
import { batchIndices, Edges, loadEdges } from './data';
import { TwhinModel, TwhinSharding } from './model';

/** offset/limit count batches (the fixture's train limit 9990 and validation offset 9990 line up). */
function window(edges: Edges, data: TwhinDataConfig): Edges {
  const start = (data.offset ?? 0) * data.per_replica_batch_size;
  const end = data.limit === undefined ? edges.lhs.length : start + data.limit * data.per_replica_batch_size;
  const cut = (a: Int32Array): Int32Array => a.slice(start, end);
  return { lhs: cut(edges.lhs), rel: cut(edges.rel), rhs: cut(edges.rhs) };
}

export interface RunOptions {
  seed?: number;
  progress?: boolean;
  reporter?: Reporter;
  /** Train on several ranks (see TwhinSharding); every rank calls runTwhin with the same config and seed. */
  sharding?: TwhinSharding;
}

export interface TwhinRun {
  model: TwhinModel;
  result: TrainResult;
}

export async function runTwhin(config: TwhinConfig, o: RunOptions = {}): Promise<TwhinRun> {
  const seed = o.seed ?? 0;
  const trainEdges = window(await loadEdges(config.train_data.data_root, config.model), config.train_data);
  const valEdges = window(await loadEdges(config.validation_data.data_root, config.model), config.validation_data);
  // per_replica_batch_size is each rank's share: a step trains on B edges from every rank.
  const B = config.train_data.per_replica_batch_size * (o.sharding?.processGroup.worldSize ?? 1);
  const VB = config.validation_data.per_replica_batch_size;
  const valBatches = Array.from(
    { length: Math.min(config.training.num_eval_steps, Math.floor(valEdges.lhs.length / VB)) },
    (_, b) => Int32Array.from({ length: VB }, (_, i) => b * VB + i),
  );
  if (valBatches.length === 0) {
    throw new TorchrecError(
      'ERR_DATA',
      `validation data holds fewer edges (${valEdges.lhs.length}) than one batch of ${VB}`,
    );
  }
  batchIndices(trainEdges.lhs.length, B, 0, seed); // throws ERR_DATA now if there is not even one batch

  // in_batch_negatives of train_data drive training; evaluation uses validation_data's.
  const model = new TwhinModel(config.model, config.train_data, seed, o.sharding);
  try {
    await model.embeddings.ready;
    const t = config.training;
    const result = await train({
      model: model.embeddings,
      extraState: model,
      numTrainSteps: t.num_train_steps,
      trainLogEveryN: t.train_log_every_n,
      evalEveryN: t.eval_log_every_n,
      checkpointEveryN: t.checkpoint_every_n,
      keepSnapshots: t.checkpoint_max_to_keep,
      saveDir: t.save_dir,
      tablesToLog: config.model.embeddings.tables_to_log,
      progress: o.progress,
      reporter: o.reporter,
      trainStep: async (step) => {
        const idx = batchIndices(trainEdges.lhs.length, B, step, seed);
        const loss = await model.trainStep(trainEdges, idx, seed * 1_000_003 + step);
        return { loss, examples: B };
      },
      evaluate: async () => {
        const m = await model.evaluate(
          valEdges,
          valBatches,
          config.validation_data.in_batch_negatives,
          t.eval_timeout_in_s,
        );
        return { auc: m.auc.all, mrr: m.mrr.all, auc_by_relation: dropAll(m.auc), mrr_by_relation: dropAll(m.mrr) };
      },
    });
    return { model, result };
  } catch (e) {
    // The caller never gets the model on failure, so its native tables are freed here.
    model.embeddings.ebc.dispose();
    throw e;
  }
}

function dropAll(x: Record<string, number>): Record<string, number> {
  const { all: _all, ...rest } = x;
  return rest;
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new TorchrecError('ERR_INVALID_ARGUMENT', 'usage: ts-node examples/twhin/run.ts <config.yaml>');
  const { model } = await runTwhin(new TwhinConfig(loadConfig(file)));
  model.embeddings.ebc.dispose();
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof TorchrecError ? `${e.code}: ${e.message}` : e);
    process.exit(1);
  });
}
