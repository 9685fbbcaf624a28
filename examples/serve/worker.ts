/**
 * A serving worker thread: its own ServingModel over the same snapshot files as every other worker
 * (mapped once per process, so N workers hold the tables once). Messages: {id, queries} in,
 * {id, answers} or {id, error} out; {ready: step} once the first snapshot is served.
 */
import { parentPort, workerData } from 'worker_threads';
import { ServeSpec, ServingModel } from './model';

async function main(): Promise<void> {
  const model = new ServingModel(workerData as ServeSpec);
  await model.start();
  parentPort!.postMessage({ ready: model.step });
  parentPort!.on('message', (m: { id: number; queries?: []; stop?: boolean }) => {
    if (m.stop) {
      void model.stop().then(() => parentPort!.close());
      return;
    }
    model.run(m.queries ?? []).then(
      (answers) => parentPort!.postMessage({ id: m.id, answers }),
      (e: Error & { code?: string }) =>
        parentPort!.postMessage({ id: m.id, error: { code: e.code, message: e.message } }),
    );
  });
}

void main();
