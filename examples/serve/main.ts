/**
 * Serves TwHIN embeddings over HTTP from the training job's snapshots, following new ones.
 *   npm run serve -- [--config <twhin.yaml>] [--port 8080] [--workers 2]
 * With --config (a TwHIN config, e.g. the one `npm run demo` writes and prints), serves the newest
 * snapshot under its training.save_dir. Without it, first trains a small TwHIN demo (a minute or
 * so) into a temporary directory and serves that. Try:
 *   curl 'http://127.0.0.1:8080/embedding?user=3'
 *   curl -X POST http://127.0.0.1:8080/score -d '{"user": 3, "tweets": [1, 2, 3], "relation": "fav"}'
 */
import { mkdtempSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { loadConfig, setNumThreads, TorchrecError } from '../../lib';
import { TwhinConfig } from '../twhin/config';
import { demoConfig } from '../twhin/demo_config';
import { generateGraph } from '../twhin/generate';
import { runTwhin } from '../twhin/run';
import type { ServeSpec } from './model';
import { startService } from './service';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** A small trained TwHIN demo in a temporary directory; returns its config file. */
async function trainDemo(): Promise<string> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'twhin-serve-'));
  const sizes = {
    users: 4000,
    tweets: 2000,
    relations: 4,
    dim: 16,
    batchSize: 256,
    negatives: 10,
    steps: 300,
    lr: 0.5,
  };
  const data = await generateGraph(path.join(work, 'data'), {
    users: sizes.users,
    tweets: sizes.tweets,
    communities: 8,
    relations: sizes.relations,
    trainEdges: 80_000,
    validationEdges: 5_120,
  });
  const file = path.join(work, 'twhin.yaml');
  writeFileSync(file, stringify(demoConfig(data, path.join(work, 'model'), sizes)));
  console.log(`training a small TwHIN demo in ${work} ...`);
  await runTwhin(new TwhinConfig(loadConfig(file)));
  return file;
}

/** What the service needs of a TwHIN config: its save_dir, tables and relation names. */
export function serveSpec(config: TwhinConfig): ServeSpec {
  return {
    saveDir: config.training.save_dir,
    tables: config.model.embeddings.tables.map((t) => ({
      name: t.name,
      num_embeddings: t.num_embeddings,
      embedding_dim: t.embedding_dim,
      data_type: t.data_type,
    })),
    relations: config.model.relations.map((r) => r.name),
  };
}

async function main(): Promise<void> {
  setNumThreads(Number(arg('threads', '1')));
  const file = arg('config') ?? (await trainDemo());
  const spec = serveSpec(new TwhinConfig(loadConfig(file)));
  const service = await startService({
    spec,
    port: Number(arg('port', '8080')),
    host: arg('host', '127.0.0.1'),
    workers: Number(arg('workers', '2')),
  });
  console.log(`serving ${spec.saveDir} at ${service.url} (GET /embedding?user=ID, POST /score {user, tweets[]})`);
  const shutdown = (): void => void service.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof TorchrecError ? `${e.code}: ${e.message}` : e);
    process.exit(1);
  });
}
