/**
 * `npm run bench:serve`: load on the examples/serve HTTP service with autocannon. For 1 and 4
 * worker threads: requests/s and p50/p99 latency of POST /score {user, 100 tweets} at 1, 16 and 256
 * connections, the server's event-loop delay p99 under that load, and the server process's RSS
 * (4 workers map the same files: they must not hold 4x the tables). Writes bench/results/serving.md.
 *   npm run bench:serve -- [--seconds 10] [--users 1000000] [--tweets 500000] [--dim 64]
 */
import { ChildProcess, fork } from 'child_process';
import { mkdtempSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LargeEmbeddings, setNumThreads } from '../lib';
import type { ServeSpec } from '../examples/serve/model';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (o: Record<string, unknown>) => Promise<AutocannonResult>;
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', 10);
const USERS = arg('users', 1_000_000);
const TWEETS = arg('tweets', 500_000);
const DIM = arg('dim', 64);
const TWEETS_PER_REQUEST = 100;
const MiB = 1024 * 1024;

interface Rss {
  rssBytes: number;
  anonBytes: number;
  fileBytes: number;
}

interface ServerHandle {
  child: ChildProcess;
  url: string;
  idle: Rss;
  ask(m: object): Promise<Rss & { eventLoopP99Ms: number; batches: number; queries: number }>;
}

function startServer(spec: ServeSpec, workers: number): Promise<ServerHandle> {
  const child = fork(path.join(__dirname, 'serve_child.ts'), [JSON.stringify({ spec, workers, threads: 1 })], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before it was ready`)));
    child.once('message', (m: Rss & { url: string }) =>
      resolve({
        child,
        url: m.url,
        idle: m,
        ask: (q) =>
          new Promise((res) => {
            child.once('message', res as never);
            child.send(q);
          }),
      }),
    );
  });
}

function body(): string {
  const tweets = Array.from({ length: TWEETS_PER_REQUEST }, () => Math.floor(Math.random() * TWEETS));
  return JSON.stringify({ user: Math.floor(Math.random() * USERS), tweets, relation: 'fav' });
}

async function main(): Promise<void> {
  setNumThreads(1);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-serve-'));
  const tables = [
    { name: 'user', num_embeddings: USERS, embedding_dim: DIM, data_type: 'fp32' },
    { name: 'tweet', num_embeddings: TWEETS, embedding_dim: DIM, data_type: 'fp32' },
  ];
  const tableBytes = (USERS + TWEETS) * DIM * 4;
  console.log(`writing a ${(tableBytes / MiB).toFixed(0)} MiB snapshot to ${work} ...`);
  const m = new LargeEmbeddings({ tables }, { seed: 1 });
  await m.saveSnapshot(path.join(work, 'save', '1'), { step: 1 });
  m.ebc.dispose();
  const spec: ServeSpec = { saveDir: path.join(work, 'save'), tables, relations: ['fav'], intervalMs: 1000 };

  const load = os.loadavg()[0];
  const rows: string[] = [];
  const memory: string[] = [];
  for (const workers of [1, 4]) {
    console.log(`starting the service with ${workers} worker(s) ...`);
    const server = await startServer(spec, workers);
    console.log(`serving at ${server.url}; warming up`);
    // Touch every page of both tables once through the service, then read RSS: the tables' pages
    // now count once in this process however many workers map them.
    const warm = await autocannon({
      url: `${server.url}/score`,
      method: 'POST',
      connections: 16,
      duration: 5,
      timeout: 5,
      requests: [{ setupRequest: (r: object) => ({ ...r, body: body() }) }],
    });
    console.log(`warm-up: ${warm.requests.total} requests, ${warm.errors + warm.non2xx + warm.timeouts} errors`);
    const afterWarm = await server.ask({ stats: true });
    const mib = (r: Rss): string => [r.rssBytes, r.anonBytes, r.fileBytes].map((b) => (b / MiB).toFixed(0)).join(' / ');
    memory.push(
      `| ${workers} | ${mib(server.idle)} | ${mib(afterWarm)} | ${(tableBytes / MiB).toFixed(0)} | ` +
        `${warm.errors + warm.non2xx} |`,
    );
    for (const connections of [1, 16, 256]) {
      const before = await server.ask({ stats: true, reset: true }); // counts so far, then a fresh histogram
      const r = await autocannon({
        url: `${server.url}/score`,
        method: 'POST',
        connections,
        duration: SECONDS,
        timeout: 5,
        requests: [{ setupRequest: (q: object) => ({ ...q, body: body() }) }],
      });
      const s = await server.ask({ stats: true });
      const perBatch = (s.queries - before.queries) / Math.max(1, s.batches - before.batches);
      rows.push(
        `| ${workers} | ${connections} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ` +
          `${s.eventLoopP99Ms.toFixed(1)} | ${perBatch.toFixed(1)} | ${r.errors + r.non2xx + r.timeouts} |`,
      );
      console.log(rows[rows.length - 1]);
    }
    await new Promise((resolve) => {
      server.child.once('exit', resolve);
      server.child.send({ stop: true });
    });
  }
  const out = [
    '# Serving benchmark (`npm run bench:serve`)',
    '',
    `examples/serve over a ${(tableBytes / MiB).toFixed(0)} MiB snapshot (user ${USERS} x ${DIM}, tweet ${TWEETS} x ${DIM}, fp32, ` +
      `mapped), POST /score {user, ${TWEETS_PER_REQUEST} random tweets}, autocannon ${SECONDS} s per row, ` +
      `1 libtorch thread per worker, micro-batches of at most 256 requests or 1 ms. ${os.cpus().length} cores; ` +
      `load average ${load.toFixed(1)} before the run, ${os.loadavg()[0].toFixed(1)} after. **The machine is shared ` +
      "with other engineers' builds and tests and is noisy: compare rows of one run, not runs.**",
    '',
    '| workers | connections | req/s | p50 ms | p99 ms | event-loop delay p99 ms | requests per forward | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Resident memory of the server process, MiB as total / anonymous / file-backed (/proc/self/status RssAnon,',
    'RssFile): at start (tables mapped, none read yet) and after 5 s of warm-up requests. The tables are',
    "file pages, resident once in the process whatever the number of workers; each worker's own V8 heap,",
    'ts-node transpiler and libtorch thread state are anonymous memory.',
    '',
    '| workers | RSS at start | RSS after warm-up | tables on disk | warm-up errors |',
    '|---|---|---|---|---|',
    ...memory,
    '',
  ].join('\n');
  writeFileSync(path.join(__dirname, 'results', 'serving.md'), out);
  console.log(out);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
