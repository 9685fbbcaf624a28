/**
 * A synthetic heterogeneous graph with planted communities, written as TwHIN edge parquet files
 * (int64 lhs, rel, rhs), so the demo and tests need no download. Users and tweets each belong to one
 * of K communities (id % K); each edge of a relation joins a random user to a tweet of the same
 * community with probability `pIn`, else to any tweet. Link prediction can therefore be learned.
 * Run: npx ts-node examples/twhin/generate.ts <out_dir>
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { rng } from './data';

export interface GraphOptions {
  users: number;
  tweets: number;
  communities: number;
  relations: number;
  trainEdges: number;
  validationEdges: number;
  /** Share of edges inside the user's community. */
  pIn?: number;
  seed?: number;
}

export const communityOf = (id: number, k: number): number => id % k;

function edges(o: GraphOptions, count: number, random: () => number): { lhs: bigint[]; rel: bigint[]; rhs: bigint[] } {
  const K = o.communities;
  const pIn = o.pIn ?? 0.9;
  const lhs: bigint[] = [];
  const rel: bigint[] = [];
  const rhs: bigint[] = [];
  const perCommunity = Math.floor(o.tweets / K);
  for (let i = 0; i < count; i++) {
    const u = Math.floor(random() * o.users);
    const c = communityOf(u, K);
    // Tweets of community c are c, c + K, c + 2K, ...
    const t = random() < pIn ? c + K * Math.floor(random() * perCommunity) : Math.floor(random() * o.tweets);
    lhs.push(BigInt(u));
    rel.push(BigInt(Math.floor(random() * o.relations)));
    rhs.push(BigInt(t));
  }
  return { lhs, rel, rhs };
}

async function writeEdges(file: string, e: { lhs: bigint[]; rel: bigint[]; rhs: bigint[] }): Promise<void> {
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'lhs', data: e.lhs, type: 'INT64' },
      { name: 'rel', data: e.rel, type: 'INT64' },
      { name: 'rhs', data: e.rhs, type: 'INT64' },
    ],
  });
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, new Uint8Array(buffer));
}

/** Writes `<dir>/train/part-0.parquet` and `<dir>/validation/part-0.parquet`; returns their folders. */
export async function generateGraph(dir: string, o: GraphOptions): Promise<{ train: string; validation: string }> {
  if (o.tweets < o.communities) throw new Error('need at least one tweet per community');
  const random = rng(o.seed ?? 1);
  const train = path.join(dir, 'train');
  const validation = path.join(dir, 'validation');
  await writeEdges(path.join(train, 'part-0.parquet'), edges(o, o.trainEdges, random));
  await writeEdges(path.join(validation, 'part-0.parquet'), edges(o, o.validationEdges, random));
  return { train, validation };
}

if (require.main === module) {
  const out = process.argv[2] ?? 'twhin_data';
  generateGraph(out, {
    users: 2000,
    tweets: 1000,
    communities: 8,
    relations: 4,
    trainEdges: 50_000,
    validationEdges: 5_000,
  })
    .then((d) => console.log(`wrote ${d.train} and ${d.validation}`))
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
