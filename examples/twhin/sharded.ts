/**
 * TwHIN trained on several ranks, the tables sharded across them (one process per rank, started by
 * torchrec-node-run or torchrun). Every rank runs this script with the same config:
 *
 *   NODE_OPTIONS='-r ts-node/register/transpile-only' \
 *     npx torchrec-node-run --nproc-per-node 2 examples/twhin/sharded.ts <config.yaml> \
 *     [--plan user=row_wise,tweet=table_wise] [--result result.json]
 *
 * per_replica_batch_size is each rank's share of a step. Without --plan, planSharding places the
 * tables. Rank 0 reports progress and, with --result, writes the final metrics there as JSON.
 */
import { writeFileSync } from 'fs';
import { cpus } from 'os';
import { parseArgs } from 'util';
import { JsonLinesReporter, loadConfig, ProcessGroup, setNumThreads, SHARDING_TYPES, TorchrecError } from '../../lib';
import type { LogRecord, Reporter, ShardingPlan, ShardingType } from '../../lib';
import { TwhinConfig } from './config';
import { runTwhin } from './run';

/** `user=row_wise,tweet=table_wise` → a ShardingPlan. */
export function parsePlan(text: string): ShardingPlan {
  const plan: ShardingPlan = {};
  for (const item of text.split(',').filter((s) => s !== '')) {
    const [table, type] = item.split('=');
    if (!table || !(SHARDING_TYPES as readonly string[]).includes(type)) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `--plan: "${item}" is not <table>=<sharding type> with a type among ${SHARDING_TYPES.join(', ')}`,
      );
    }
    plan[table] = type as ShardingType;
  }
  return plan;
}

/** Ranks other than 0 report only what goes wrong; their progress is rank 0's. */
class QuietReporter implements Reporter {
  start(): void {}
  update(): void {}
  log(record: LogRecord): void {
    if (record.event === 'error') console.error(JSON.stringify(record));
  }
  stop(): void {}
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { plan: { type: 'string' }, result: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', 'usage: sharded.ts <config.yaml> [--plan t=type,...] [--result f]');
  }
  const config = new TwhinConfig(loadConfig(positionals[0]));
  const plan = values.plan === undefined ? undefined : parsePlan(values.plan);
  const processGroup = await ProcessGroup.init({ timeoutMs: 120_000 });
  // The ranks of one machine share its cores rather than each starting a thread per core.
  setNumThreads(Math.max(1, Math.floor(cpus().length / processGroup.localWorldSize)));
  try {
    const reporter = processGroup.rank === 0 ? new JsonLinesReporter() : new QuietReporter();
    const { model, result } = await runTwhin(config, { sharding: { processGroup, plan }, reporter });
    // A collective (every rank asks): the managed tables' counts summed over their shards ({} without any).
    const managedIdStats = await model.embeddings.ebc.managedIdStats();
    model.embeddings.ebc.dispose();
    if (processGroup.rank === 0 && values.result !== undefined) {
      writeFileSync(values.result, JSON.stringify({ ...result, worldSize: processGroup.worldSize, managedIdStats }));
    }
  } finally {
    processGroup.destroy();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof TorchrecError ? `${e.code}: ${e.message}` : e);
    process.exit(1);
  });
}
