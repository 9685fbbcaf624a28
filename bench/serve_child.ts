/**
 * The server process of `npm run bench:serve`: the examples/serve service over a snapshot, with its
 * event-loop delay measured (perf_hooks.monitorEventLoopDelay). Forked with IPC; messages in:
 * {reset} clears the histogram, {stats} answers {eventLoopP99Ms, rssBytes}, {stop} exits.
 * Args: <config json>  ({ spec, workers })
 */
import { monitorEventLoopDelay } from 'perf_hooks';
import { setNumThreads } from '../lib';
import { startService } from '../examples/serve/service';

async function main(): Promise<void> {
  const { spec, workers, threads } = JSON.parse(process.argv[2]);
  setNumThreads(threads);
  const service = await startService({ spec, workers });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('message', (m: { reset?: boolean; stats?: boolean; stop?: boolean }) => {
    if (m.reset) delay.reset();
    if (m.stats) {
      process.send!({
        eventLoopP99Ms: delay.percentile(99) / 1e6,
        rssBytes: process.memoryUsage().rss,
        batches: service.batcher.batches,
        queries: service.batcher.queries,
      });
    }
    if (m.stop) void service.close().then(() => process.exit(0));
  });
  process.send!({ url: service.url, rssBytes: process.memoryUsage().rss });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
