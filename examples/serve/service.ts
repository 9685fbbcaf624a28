/**
 * The HTTP service of the serving example (Node's `http`, no framework): GET /embedding?user=ID,
 * POST /score {user, tweets[], relation?}, GET /healthz. Requests are validated on the main thread
 * (bad ones answered 400 with a JSON error), gathered by a MicroBatcher, and each batch answered
 * by one forward on one of N worker threads (or on the main thread's own model when N is 0; the
 * forward runs off the event loop either way). Every worker maps the same snapshot files, which
 * this process maps once, and follows new snapshots on its own.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { MicroBatcher } from './batcher';
import { Answer, Query, ServeSpec, ServingModel } from './model';
import { HttpError, parseRequest } from './requests';

export interface ServiceOptions {
  spec: ServeSpec;
  port?: number;
  host?: string;
  /** Worker threads; 0 runs the model on the main thread. Default 2. */
  workers?: number;
  maxBatch?: number;
  maxWaitMs?: number;
}

export interface Service {
  url: string;
  batcher: MicroBatcher<Query, Answer>;
  close(): Promise<void>;
}

interface Backend {
  run(queries: Query[]): Promise<Answer[]>;
  step(): number;
  close(): Promise<void>;
}

/** Workers answer batches; each batch goes to the worker with the fewest batches in flight. */
async function workerPool(spec: ServeSpec, n: number): Promise<Backend> {
  const file = path.join(__dirname, 'worker.ts');
  // Workers start from TypeScript source, as this process did (ts-node in `npm run serve`, ts-jest in tests).
  const code = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(file)});`;
  let nextId = 0;
  let step = -1;
  const workers = await Promise.all(
    Array.from({ length: n }, async () => {
      const w = new Worker(code, { eval: true, workerData: spec });
      const waiting = new Map<number, { resolve: (a: Answer[]) => void; reject: (e: Error) => void }>();
      await new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.on('message', (m: { ready?: number; id: number; answers?: Answer[]; error?: { message: string } }) => {
          if (m.ready !== undefined) {
            step = Math.max(step, m.ready);
            return resolve();
          }
          const p = waiting.get(m.id);
          waiting.delete(m.id);
          if (m.answers) {
            step = Math.max(step, ...m.answers.map((a) => a.step));
            p?.resolve(m.answers);
          } else p?.reject(new Error(m.error?.message ?? 'worker failed'));
        });
      });
      w.on('error', (e) => waiting.forEach((p) => p.reject(e)));
      return { w, waiting };
    }),
  );
  return {
    run: (queries) => {
      const target = workers.reduce((a, b) => (b.waiting.size < a.waiting.size ? b : a));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        target.waiting.set(id, { resolve, reject });
        target.w.postMessage({ id, queries });
      });
    },
    step: () => step,
    close: async () => {
      await Promise.all(
        workers.map(
          ({ w }) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.postMessage({ stop: true });
            }),
        ),
      );
    },
  };
}

async function inline(spec: ServeSpec): Promise<Backend> {
  const model = new ServingModel(spec);
  await model.start();
  return { run: (q) => model.run(q), step: () => model.step, close: () => model.stop() };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startService(o: ServiceOptions): Promise<Service> {
  const backend = (o.workers ?? 2) > 0 ? await workerPool(o.spec, o.workers ?? 2) : await inline(o.spec);
  const batcher = new MicroBatcher<Query, Answer>((q) => backend.run(q), o.maxBatch ?? 256, o.maxWaitMs ?? 1);
  const server = http.createServer((req, res) => {
    const handle = async (): Promise<void> => {
      if (req.url === '/healthz') return send(res, 200, { step: backend.step() });
      const query = await parseRequest(req, o.spec);
      send(res, 200, await batcher.submit(query));
    };
    handle().catch((e: Error & { code?: string }) => {
      if (e instanceof HttpError) send(res, e.status, { error: { code: e.code, message: e.message } });
      else send(res, 500, { error: { code: e.code ?? 'ERR_INTERNAL', message: e.message } });
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    batcher,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.close();
    },
  };
}
