/**
 * Child process of the bench: this library holding one configuration, and nothing else, so that its
 * peak resident memory is the configuration's. Modes:
 *   forward  forwardSync and forward (async, awaited one after the other) on every id variant
 *   train    one train step = forward + backward with a fused rowwise_adagrad (needs ebc.backward)
 *   memory   construct only, for the resident-memory comparison
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, buildInfo, getNumThreads } from '../lib';
import { findAddon } from '../lib/loader';
import {
  BenchConfig,
  ChildResult,
  Measured,
  Timing,
  Variants,
  childArgument,
  measured,
  memoryKb,
  readIds,
  timeAsync,
  timeSync,
} from './common';

interface LibJob {
  config: BenchConfig;
  mode: 'forward' | 'train' | 'memory';
  variants: Variants;
  sync: Timing;
  async: Timing;
  lr?: number;
}

async function main(): Promise<void> {
  const job = childArgument<LibJob>();
  const c = job.config;
  const addon = findAddon().found?.path ?? 'not found';
  if (
    job.mode === 'train' &&
    typeof (EmbeddingBagCollection.prototype as { backward?: unknown }).backward !== 'function'
  ) {
    const out: ChildResult = {
      impl: 'train',
      variants: {},
      peak_rss_kb: -1,
      rss_kb: -1,
      unavailable: 'no ebc.backward',
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  const optimizer = job.mode === 'train' ? { optimizer: { rowwise_adagrad: { lr: job.lr ?? 0.01 } } } : {};
  const tables = Array.from({ length: c.tables }, (_, t) => ({
    name: `t${t}`,
    num_embeddings: c.rows,
    embedding_dim: c.dim,
    data_type: c.dtype,
    feature_names: [`f${t}`],
    ...optimizer,
  }));
  const before = memoryKb();
  const start = process.hrtime.bigint();
  const ebc = new EmbeddingBagCollection({ tables, seed: 1 });
  const initSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const afterInit = memoryKb();
  const keys = tables.map((t) => t.feature_names[0]);
  const count = c.tables * c.batch * c.pooling;
  const lengths = new Int32Array(c.tables * c.batch).fill(c.pooling);
  const grad = new Float32Array(c.batch * c.tables * c.dim);
  for (let i = 0; i < grad.length; i++) grad[i] = ((i * 0.6180339887) % 1) - 0.5;

  // A batch small enough for inlineSmallForwards (binding/forward_inline.cc's bound) is also timed on a
  // twin collection with that option, the same weights (same seed): forward's two settings side by side.
  const inlineTwin =
    job.mode === 'forward' && count <= 1 << 15
      ? new EmbeddingBagCollection({ tables, seed: 1, inlineSmallForwards: true })
      : undefined;
  const variants: ChildResult['variants'] = {};
  // One result array reused by every forwardSync of the `out` row (each call returns before the next).
  const reused = new Float32Array(c.batch * c.tables * c.dim);
  let fresh: Float32Array | undefined;
  if (job.mode !== 'memory') {
    const batches = Object.entries(job.variants).map(([name, files]) => ({
      name,
      kjts: files.map((f) => KeyedJaggedTensor.fromLengths({ keys, values: readIds(f, count), lengths })),
    }));
    // V8 compiles the call path in tiers over the first thousands of calls; at S the first variant timed
    // took twice the later ones' time for it. Warm every variant first so each row times steady state.
    if (job.mode === 'forward') {
      for (const { kjts } of batches) {
        timeSync({ ...job.sync, runs: 1 }, (i) => ebc.forwardSync(kjts[i % kjts.length]));
        timeSync({ ...job.sync, runs: 1 }, (i) => ebc.forwardSync(kjts[i % kjts.length], { out: reused }));
        await timeAsync({ ...job.async, runs: 1 }, (i) => ebc.forward(kjts[i % kjts.length]));
        await timeAsync({ ...job.async, runs: 1 }, (i) => ebc.forward(kjts[i % kjts.length], { out: reused }));
        const twin = inlineTwin;
        if (twin) await timeAsync({ ...job.async, runs: 1 }, (i) => twin.forward(kjts[i % kjts.length]));
      }
    }
    for (const { name, kjts } of batches) {
      const pick = (i: number) => kjts[i % kjts.length];
      if (job.mode === 'train') {
        const runs = await timeAsync(job.async, async (i) => {
          await ebc.forward(pick(i));
          await ebc.backward(pick(i), grad);
        });
        variants[name] = measured(runs);
      } else {
        const sync = measured(timeSync(job.sync, (i) => ebc.forwardSync(pick(i))));
        const syncOut: Measured = measured(timeSync(job.sync, (i) => ebc.forwardSync(pick(i), { out: reused })));
        // What a new result array alone costs here: the part of forwardSync that `out` saves.
        const alloc: Measured = measured(
          timeSync(job.sync, () => {
            fresh = new Float32Array(reused.length);
          }),
        );
        const async: Measured = measured(await timeAsync(job.async, (i) => ebc.forward(pick(i))));
        // Each forward is awaited before the next, so one array serves them all.
        const asyncOut: Measured = measured(await timeAsync(job.async, (i) => ebc.forward(pick(i), { out: reused })));
        const twin = inlineTwin;
        const asyncInline = twin ? measured(await timeAsync(job.async, (i) => twin.forward(pick(i)))) : undefined;
        variants[name] = { ...sync, syncOut, alloc, async, asyncOut, ...(asyncInline ? { asyncInline } : {}) };
      }
    }
  }
  const mem = memoryKb();
  const out: ChildResult = {
    impl: job.mode === 'train' ? 'train' : 'torchrec-node',
    variants,
    peak_rss_kb: mem.peak,
    rss_kb: mem.rss,
    rss_before_init_kb: before.rss,
    rss_after_init_kb: afterInit.rss,
    init_s: initSeconds,
    threads: getNumThreads(),
    cpu_kernels: buildInfo().cpuKernels, // which instruction-set path each CPU kernel family took here
    addon,
  };
  ebc.dispose();
  if (fresh && fresh.length !== reused.length) throw new Error('unreachable: keeps the allocations observable');
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`lib_child: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
