/**
 * `npm run bench:sharded`: training steps of DESIGN.md's configuration M, and of one 16M x 64 fp32
 * table, in one process and sharded over 2 ranks of this machine (real processes over Gloo on
 * 127.0.0.1): step median and its ratio to one process, each rank's peak RSS (it should hold about 1/W
 * of the tables), and the bytes a step moved (ProcessGroup.traffic, summed over ranks) beside what
 * planSharding's comm model (TorchRec's formula) predicts for the same plan. Then the model alone for
 * 8, 64 and 512 ranks. Rounds run the layouts one after the other and pool their steps.
 *
 *   npm run bench:sharded                      # M and BIG, 2 rounds
 *   npm run bench:sharded -- --only M --rounds 3 --no-write
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { planSharding } from '../lib';
import { findAddon } from '../lib/loader';
import type { ShardingPlan } from '../lib';
import { median } from './common';
import { transpileForChildren } from './run';
import type { ShardedJob } from './sharded_child';

const ROOT = path.resolve(__dirname, '..');
const CHILD = path.join(ROOT, 'build-bench', 'js', 'bench', 'sharded_child.js');
const RESULTS = path.join(__dirname, 'results', 'sharding.md');

interface Shape {
  name: string;
  tables: number;
  rows: number;
  dim: number;
  batch: number;
  pooling: number;
  steps: number;
}

const SHAPES: Shape[] = [
  { name: 'M', tables: 8, rows: 1_000_000, dim: 64, batch: 4096, pooling: 20, steps: 12 },
  { name: 'BIG', tables: 1, rows: 16_000_000, dim: 64, batch: 4096, pooling: 20, steps: 12 },
];

interface Layout {
  name: string;
  worldSize: number;
  plan?: (s: Shape) => ShardingPlan;
}

const allTables = (s: Shape, type: 'row_wise' | 'table_wise'): ShardingPlan =>
  Object.fromEntries(Array.from({ length: s.tables }, (_, t) => [`t${t}`, type]));

const LAYOUTS: Layout[] = [
  { name: 'one process', worldSize: 1 },
  { name: '2 ranks, planSharding', worldSize: 2 },
  { name: '2 ranks, row_wise', worldSize: 2, plan: (s) => allTables(s, 'row_wise') },
];

interface RankResult {
  rank: number;
  step: { runs_ms: number[] };
  forward: { runs_ms: number[] };
  bytesPerStep: { sent: number; received: number };
  rss_before_tables_kb: number;
  rss_after_tables_kb: number;
  peak_rss_kb: number;
  error?: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function runRank(job: ShardedJob, env: NodeJS.ProcessEnv): Promise<RankResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(job)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.trim().split('\n');
      try {
        const r = JSON.parse(lines[lines.length - 1]) as RankResult;
        if (r.error !== undefined || code !== 0) reject(new Error(`rank failed (${code}): ${r.error ?? out}`));
        else resolve(r);
      } catch {
        reject(new Error(`rank failed (${code}): ${out}`));
      }
    });
  });
}

async function runLayout(shape: Shape, layout: Layout): Promise<RankResult[]> {
  const W = layout.worldSize;
  const job: ShardedJob = {
    ...shape,
    plan: layout.plan?.(shape),
    warmup: 10, // fresh tables are slow for their first passes (bench/run.ts WARM_M)
    threads: Math.max(1, Math.floor(os.cpus().length / W)),
  };
  if (W === 1) return [await runRank(job, { ...process.env, WORLD_SIZE: '' })];
  const port = await freePort();
  return Promise.all(
    Array.from({ length: W }, (_, r) =>
      runRank(job, {
        ...process.env,
        RANK: String(r),
        LOCAL_RANK: String(r),
        WORLD_SIZE: String(W),
        LOCAL_WORLD_SIZE: String(W),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      }),
    ),
  );
}

function modelBytes(shape: Shape, worldSize: number, plan?: ShardingPlan): { bytes: number; plan: string } {
  const tables = Array.from({ length: shape.tables }, (_, t) => ({
    name: `t${t}`,
    num_embeddings: shape.rows,
    embedding_dim: shape.dim,
    feature_names: [`f${t}`],
    optimizer: { rowwise_adagrad: { lr: 0.01 } },
  }));
  const r = planSharding(tables, {
    worldSize,
    batchSizePerRank: shape.batch / worldSize,
    idsPerBag: shape.pooling,
    memoryPerRankBytes: Number.MAX_SAFE_INTEGER,
    plan,
  });
  const types = [...new Set(Object.values(r.plan).map((p) => p.sharding_type))].join('+');
  return { bytes: r.commBytesPerStep, plan: types };
}

const mb = (kb: number): string => (kb / 1024).toFixed(0);
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      rounds: { type: 'string', default: '2' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const only = values.only?.split(',');
  const rounds = Number(values.rounds);
  const addon = findAddon().found?.path;
  if (!addon)
    throw new Error('the torchrec-node addon is not built: run `npm run build:native` (or set TORCHREC_NODE_ADDON)');
  process.env.TORCHREC_NODE_ADDON = addon; // the children run from build-bench/js
  transpileForChildren();
  const lines: string[] = [
    `# Sharded training steps (npm run bench:sharded)`,
    '',
    `${new Date().toISOString()}, ${os.cpus()[0].model}, ${os.cpus().length} cores, ` +
      `load before ${os.loadavg()[0].toFixed(2)}; ${rounds} rounds, steps pooled; ranks get cores/W intra-op threads.`,
    '',
    '| config | layout | plan | step median ms | vs one process | forward ms | peak RSS per rank MB | tables RSS per rank MB | bytes/step measured (MiB) | model (MiB) |',
    '|---|---|---|---:|---:|---:|---|---|---:|---:|',
  ];
  for (const shape of SHAPES.filter((s) => !only || only.includes(s.name))) {
    const pooled = LAYOUTS.map(() => [] as RankResult[][]);
    for (let round = 0; round < rounds; round++) {
      for (const [i, layout] of LAYOUTS.entries()) {
        process.stderr.write(`${shape.name} round ${round + 1}/${rounds}: ${layout.name}\n`);
        pooled[i].push(await runLayout(shape, layout));
      }
    }
    let baseline = NaN;
    for (const [i, layout] of LAYOUTS.entries()) {
      const runs = pooled[i];
      // A step ends when every rank's backward has: take the slowest rank of each step.
      const stepMs = median(
        runs.flatMap((ranks) => ranks[0].step.runs_ms.map((_, s) => Math.max(...ranks.map((r) => r.step.runs_ms[s])))),
      );
      const forwardMs = median(runs.flatMap((ranks) => ranks.flatMap((r) => r.forward.runs_ms)));
      if (i === 0) baseline = stepMs;
      const last = runs[runs.length - 1];
      const peak = last.map((r) => mb(r.peak_rss_kb)).join(' / ');
      const tablesRss = last.map((r) => mb(r.rss_after_tables_kb - r.rss_before_tables_kb)).join(' / ');
      const measuredBytes = layout.worldSize === 1 ? 0 : last.reduce((a, r) => a + r.bytesPerStep.sent, 0);
      const model = modelBytes(shape, layout.worldSize, layout.plan?.(shape));
      lines.push(
        `| ${shape.name} | ${layout.name} | ${layout.worldSize === 1 ? '-' : model.plan} | ${stepMs.toFixed(1)} | ` +
          `${(stepMs / baseline).toFixed(2)} | ${forwardMs.toFixed(1)} | ${peak} | ${tablesRss} | ` +
          `${mib(measuredBytes)} | ${mib(model.bytes)} |`,
      );
    }
  }
  lines.push('', "## planSharding's comm model for configuration M at scale (batch 4096 per rank, 20 ids per bag)", '');
  lines.push(
    '| ranks | planSharding plan | MiB/step (all ranks) | row_wise everywhere MiB/step |',
    '|---:|---|---:|---:|',
  );
  for (const W of [8, 64, 512]) {
    const m = { ...SHAPES[0], batch: 4096 * W };
    const chosen = modelBytes(m, W);
    const rw = modelBytes(m, W, allTables(m, 'row_wise'));
    lines.push(`| ${W} | ${chosen.plan} | ${mib(chosen.bytes)} | ${mib(rw.bytes)} |`);
  }
  const text = lines.join('\n') + '\n';
  process.stdout.write(text);
  if (!values['no-write']) fs.writeFileSync(RESULTS, text);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
