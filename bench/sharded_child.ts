/**
 * One process of `npm run bench:sharded` (bench/sharded.ts): builds the job's tables (sharded across
 * the group when torchrun's variables are set, else in this process alone), then times training
 * steps (forward + backward with row-wise Adagrad) on its local batch, and prints one JSON line: step
 * medians, this process's peak RSS before and after the tables exist, and the bytes each step moved.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, ProcessGroup, setNumThreads } from '../lib';
import type { ShardingPlan } from '../lib';
import { measured, memoryKb } from './common';

export interface ShardedJob {
  tables: number;
  rows: number;
  dim: number;
  /** Global batch: with W ranks each trains on batch / W samples. */
  batch: number;
  pooling: number;
  plan?: ShardingPlan;
  warmup: number;
  steps: number;
  threads: number;
}

/** A small seeded generator (splitmix64's mixer on a counter) so every rank draws its own ids reproducibly. */
function ids(count: number, rows: number, seed: number): BigInt64Array {
  const out = new BigInt64Array(count);
  let x = BigInt(seed) * 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < count; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & mask;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
    z ^= z >> 31n;
    out[i] = z % BigInt(rows);
  }
  return out;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as ShardedJob;
  setNumThreads(job.threads);
  const processGroup = process.env.WORLD_SIZE ? await ProcessGroup.init({ timeoutMs: 600_000 }) : undefined;
  const rank = processGroup?.rank ?? 0;
  const W = processGroup?.worldSize ?? 1;
  const tables = Array.from({ length: job.tables }, (_, t) => ({
    name: `t${t}`,
    num_embeddings: job.rows,
    embedding_dim: job.dim,
    data_type: 'fp32',
    feature_names: [`f${t}`],
    optimizer: { rowwise_adagrad: { lr: 0.01 } },
  }));
  const before = memoryKb();
  const started = process.hrtime.bigint();
  const ebc = new EmbeddingBagCollection({ tables, seed: 1, processGroup, plan: processGroup && job.plan });
  await ebc.ready;
  await processGroup?.barrier();
  const initSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const afterInit = memoryKb();

  const B = Math.floor(job.batch / W) + (rank < job.batch % W ? 1 : 0);
  const keys = tables.map((t) => t.feature_names[0]);
  const lengths = new Int32Array(job.tables * B).fill(job.pooling);
  const kjts = [0, 1, 2, 3].map((k) =>
    KeyedJaggedTensor.fromLengths({
      keys,
      values: ids(lengths.length * job.pooling, job.rows, 1000 * k + rank),
      lengths,
    }),
  );
  const grad = Float32Array.from({ length: B * job.tables * job.dim }, (_, i) => ((i * 0.6180339887) % 1) - 0.5);

  const stepMs: number[] = [];
  const forwardMs: number[] = [];
  let traffic = { sent: 0, received: 0 };
  for (let i = 0; i < job.warmup + job.steps; i++) {
    const kjt = kjts[i % kjts.length];
    const t0 = process.hrtime.bigint();
    const before = processGroup?.traffic();
    await ebc.forward(kjt);
    const t1 = process.hrtime.bigint();
    await ebc.backward(kjt, grad);
    const t2 = process.hrtime.bigint();
    if (i < job.warmup) continue;
    forwardMs.push(Number(t1 - t0) / 1e6);
    stepMs.push(Number(t2 - t0) / 1e6);
    const after = processGroup?.traffic();
    if (before && after) {
      traffic = {
        sent: traffic.sent + (after.bytesSent - before.bytesSent) / job.steps,
        received: traffic.received + (after.bytesReceived - before.bytesReceived) / job.steps,
      };
    }
  }
  const mem = memoryKb();
  const out = {
    rank,
    worldSize: W,
    localBatch: B,
    step: measured(stepMs),
    forward: measured(forwardMs),
    bytesPerStep: traffic,
    init_s: initSeconds,
    rss_before_tables_kb: before.rss,
    rss_after_tables_kb: afterInit.rss,
    peak_rss_kb: mem.peak,
  };
  ebc.dispose();
  processGroup?.destroy();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  const err = e as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: `${err.code ?? ''} ${err.message ?? String(e)}` })}\n`);
  process.exit(1);
});
