/**
 * The server process of `npm run bench:serve`: the examples/serve service over a snapshot, with its
 * event-loop delay measured (perf_hooks.monitorEventLoopDelay). Forked with IPC; messages in:
 * {stats} answers {eventLoopP99Ms, rssBytes, batches, queries}, then {reset} clears the histogram,
 * {stop} exits.
 * Args: <config json>  ({ spec, workers })
 */
import { readFileSync } from 'fs';
import { monitorEventLoopDelay } from 'perf_hooks';
import { setNumThreads } from '../lib';
import { startService } from '../examples/serve/service';

/** RssAnon and RssFile (bytes): the mapped tables' pages are file pages, the workers' heaps anonymous. */
function rssKinds(): { anonBytes: number; fileBytes: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { anonBytes: kb('RssAnon'), fileBytes: kb('RssFile') };
}

async function main(): Promise<void> {
  const { spec, workers, threads } = JSON.parse(process.argv[2]);
  setNumThreads(threads);
  const service = await startService({ spec, workers });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('message', (m: { reset?: boolean; stats?: boolean; stop?: boolean }) => {
    if (m.stats) {
      process.send!({
        eventLoopP99Ms: delay.percentile(99) / 1e6,
        rssBytes: process.memoryUsage().rss,
        ...rssKinds(),
        batches: service.batcher.batches,
        queries: service.batcher.queries,
      });
    }
    if (m.reset) delay.reset();
    if (m.stop) void service.close().then(() => process.exit(0));
  });
  process.send!({ url: service.url, rssBytes: process.memoryUsage().rss, ...rssKinds() });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
