/**
 * The 512 MiB table of the memory tests (children of rss.test.ts): 2,097,152 rows x 64 fp32.
 *   node -r ts_register big_table.ts save <dir>                       writes its snapshot
 *   node -r ts_register big_table.ts restore <dir> <mmap|copy>        RSS around one restore
 *   node -r ts_register big_table.ts workers <dir> <n>                n worker threads map it
 * Each prints one JSON line of RSS figures (bytes).
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { EmbeddingBagCollection, KeyedJaggedTensor } from '../../../lib';
import { TS_REGISTER } from '../../helpers/reliability';

export const BIG = { name: 'big', num_embeddings: 2_097_152, embedding_dim: 64, data_type: 'fp32' };
const rss = (): number => process.memoryUsage().rss;
/** RssAnon and RssFile of /proc/self/status (kB → bytes): which kind of memory grew. */
const kinds = (): Record<string, number> => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const get = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: get('RssAnon'), file: get('RssFile') };
};
const make = (): EmbeddingBagCollection => new EmbeddingBagCollection({ tables: [BIG], seed: 3 });

function randomBatch(b: number): KeyedJaggedTensor {
  const values = Array.from({ length: b }, (_, i) => (i * 2654435761) % BIG.num_embeddings);
  return KeyedJaggedTensor.fromLengths({ keys: ['big'], values, lengths: new Array(b).fill(1) });
}

async function restore(dir: string, mode: string): Promise<void> {
  // libtorch's code pages and thread pools come in with the first collection and forward: warm them
  // first, so that the baseline holds everything but the table.
  const warm = new EmbeddingBagCollection({ tables: [{ ...BIG, num_embeddings: 10 }] });
  await warm.forward(randomBatch(1));
  global.gc?.();
  const baseline = rss();
  const baseKinds = kinds();
  const m = make();
  const built = rss();
  await m.restoreSnapshot(dir, { mmap: mode === 'mmap' });
  global.gc?.();
  const restored = rss();
  for (let i = 0; i < 8; i++) await m.forward(randomBatch(512));
  const served = rss();
  const servedKinds = kinds();
  console.log(
    JSON.stringify({
      baseline,
      built,
      restored,
      served,
      anonGrowth: servedKinds.anon - baseKinds.anon,
      fileGrowth: servedKinds.file - baseKinds.file,
      storage: m.tableStorage().big,
    }),
  );
  m.dispose();
  warm.dispose();
}

/** In a worker: build, map, read every row (tableNorms over all of them), then wait to be released. */
async function workerMain(): Promise<void> {
  const m = make();
  await m.restoreSnapshot(workerData.dir as string, { mmap: true });
  await m.tableNorms(['big']); // <= 4M rows: every row is read, every page of the file faulted in
  parentPort!.postMessage('ready');
  parentPort!.once('message', () => {
    m.dispose();
    process.exit(0);
  });
}

async function workers(dir: string, n: number): Promise<void> {
  global.gc?.();
  const baseline = rss();
  const after: number[] = [];
  const running: Worker[] = [];
  for (let i = 0; i < n; i++) {
    // A worker cannot start from a .ts file: it registers the transpiler first, as this process did.
    const code = `require(${JSON.stringify(TS_REGISTER)}); require(${JSON.stringify(__filename)});`;
    const w = new Worker(code, { eval: true, workerData: { dir } });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    running.push(w);
    after.push(rss());
  }
  const file = path.join(dir, '0', 'model', 'embedding_bags.big.weight');
  const { mappingsOf } = await import('../helpers');
  const mappings = mappingsOf(file);
  for (const w of running) w.postMessage('exit');
  await Promise.all(running.map((w) => new Promise((r) => w.once('exit', r))));
  console.log(JSON.stringify({ baseline, after, mappings }));
}

async function main(): Promise<void> {
  if (!isMainThread) return workerMain();
  const [what, dir, arg] = process.argv.slice(2);
  if (what === 'save') {
    const m = make();
    await m.saveSnapshot(dir);
    m.dispose();
    console.log(JSON.stringify({ saved: dir }));
  } else if (what === 'restore') {
    await restore(dir, arg);
  } else {
    await workers(dir, Number(arg));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
