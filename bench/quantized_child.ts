/**
 * Child of bench/quantized.ts: one configuration's tables in one data type (fp32, fp16, int8, int4:
 * quantized tables are built directly, drawn and quantized in chunks, so no float copy is ever
 * resident), its resident memory, and the median of forwardSync over uniform ids. Prints one JSON line.
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, getNumThreads } from '../lib';
import { childArgument, measured, memoryKb, timeSync } from './common';
import type { BenchConfig } from './common';

interface Job {
  config: BenchConfig;
  dtype: string;
  runs: number;
}

function main(): void {
  const job = childArgument<Job>();
  const c = job.config;
  // Load the addon (and libtorch) first: the RSS difference below is then the tables' alone.
  new EmbeddingBagCollection({ tables: [{ name: 'warm', num_embeddings: 1, embedding_dim: 8 }], seed: 1 }).dispose();
  const before = memoryKb();
  const ebc = new EmbeddingBagCollection({
    tables: Array.from({ length: c.tables }, (_, t) => ({
      name: `t${t}`,
      num_embeddings: c.rows,
      embedding_dim: c.dim,
      data_type: job.dtype,
      feature_names: [`f${t}`],
    })),
    seed: 1,
  });
  const after = memoryKb();
  // Uniform ids from a fixed LCG: the same batches for every data type.
  const count = c.tables * c.batch * c.pooling;
  const batches = [0, 1].map((k) => {
    const ids = new Int32Array(count);
    let x = 12345 + k;
    for (let i = 0; i < count; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      ids[i] = x % c.rows;
    }
    return KeyedJaggedTensor.fromLengths({
      keys: Array.from({ length: c.tables }, (_, t) => `f${t}`),
      values: ids,
      lengths: new Int32Array(c.tables * c.batch).fill(c.pooling),
    });
  });
  // 20 warm-up calls: the first calls of a process fault in their result buffers as the heap grows (tens
  // of calls at M), which is start-up cost, not the forward's.
  const runs = timeSync({ warmup: 20, runs: job.runs, calls: 1 }, (i) => ebc.forwardSync(batches[i % 2]));
  process.stdout.write(
    JSON.stringify({
      dtype: job.dtype,
      tables_rss_kb: after.rss - before.rss,
      threads: getNumThreads(),
      ...measured(runs),
    }) + '\n',
  );
  ebc.dispose();
}

main();
