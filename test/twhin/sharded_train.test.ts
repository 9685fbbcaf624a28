/**
 * The training loop on 2 ranks (torchrec-node-run starting examples/twhin/sharded.ts, real processes
 * over Gloo on 127.0.0.1): sharded snapshots in save_dir that one process restores to the metrics
 * rank 0 reported, and a Ctrl-C (SIGINT to the launcher, forwarded to the ranks) that stops both
 * ranks after the same step with a final snapshot the next run resumes from.
 */
import { spawn } from 'child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { newestSnapshot } from '../../lib';
import { TwhinConfig } from '../../examples/twhin/config';
import { loadEdges } from '../../examples/twhin/data';
import { TwhinModel } from '../../examples/twhin/model';
import { cleanEnv, LAUNCHER } from '../distributed/helpers';
import { TS_REGISTER } from '../helpers/reliability';
import { tinyGraph, tinyRawConfig, tmpDir } from './helpers';

const SCRIPT = path.join(__dirname, '..', '..', 'examples', 'twhin', 'sharded.ts');

interface Launch {
  exited: Promise<number | null>;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

function launch(configFile: string, resultFile: string): Launch {
  const child = spawn(
    process.execPath,
    [
      LAUNCHER,
      '--nproc-per-node',
      '2',
      SCRIPT,
      configFile,
      '--plan',
      'user=row_wise,tweet=table_wise',
      '--result',
      resultFile,
    ],
    { env: cleanEnv({ NODE_OPTIONS: `-r ${TS_REGISTER}` }), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  return {
    exited: new Promise((resolve) =>
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      }),
    ),
    stderr: () => stderr,
    kill: (signal) => child.kill(signal),
  };
}

interface Result {
  step: number;
  resumedFrom: number;
  stoppedBy: string;
  lastEval: { auc: number; mrr: number };
}

describe('the training loop with sharded tables on 2 ranks', () => {
  let dir: string;
  let data: { train: string; validation: string };
  beforeAll(async () => {
    dir = tmpDir('twhin-sharded-train');
    data = await tinyGraph(dir);
  });

  function writeConfig(name: string, steps: number, every: number): { file: string; config: TwhinConfig } {
    const raw = tinyRawConfig(data, path.join(dir, name), { steps, batchSize: 50 });
    raw.training.checkpoint_every_n = every;
    raw.validation_data.per_replica_batch_size = 100;
    // Table norms are logged by the single-process tests; here the loop's collective calls are the point.
    raw.model.embeddings.tables_to_log = [];
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(raw));
    return { file, config: new TwhinConfig(raw) };
  }

  it('writes sharded snapshots that one process restores to the metrics rank 0 reported', async () => {
    const { file, config } = writeConfig('plain', 120, 60);
    const resultFile = path.join(dir, 'plain.json');
    const run = launch(file, resultFile);
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as Result;
    expect(result).toMatchObject({ step: 120, stoppedBy: 'done' });
    expect(result.lastEval.auc).toBeGreaterThan(0.7);

    const saveDir = config.training.save_dir;
    expect(readdirSync(saveDir).sort()).toEqual(['120', '60']);
    const found = await newestSnapshot(saveDir);
    expect(found?.dir).toBe(path.join(saveDir, '120'));
    const model = new TwhinModel(config.model, config.validation_data);
    const restored = await model.embeddings.restoreSnapshot(found!.dir);
    model.restore(found!.state.extra);
    expect(restored.step).toBe(120);
    const edges = await loadEdges(config.validation_data.data_root, config.model);
    const batches = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((b) => Int32Array.from({ length: 100 }, (_, i) => b * 100 + i));
    const m = await model.evaluate(edges, batches);
    // One id per bag: the sharded forward that rank 0 evaluated with is exact, so the metrics are the same.
    expect(m.auc.all).toBeCloseTo(result.lastEval.auc, 9);
    expect(m.mrr.all).toBeCloseTo(result.lastEval.mrr, 9);
    model.embeddings.ebc.dispose();
  }, 120_000);

  it('stops both ranks after the same step on Ctrl-C, with a final snapshot the next run resumes from', async () => {
    const { file, config } = writeConfig('stopped', 100_000, 20);
    const saveDir = config.training.save_dir;
    const resultFile = path.join(dir, 'stopped.json');
    const run = launch(file, resultFile);
    const complete = (): boolean =>
      existsSync(saveDir) && readdirSync(saveDir).some((d) => existsSync(path.join(saveDir, d, 'trainer_state.json')));
    const deadline = Date.now() + 60_000;
    while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(complete()).toBe(true);
    run.kill('SIGINT');
    // The launcher reports the signal it was stopped by (128 + SIGINT), as a shell would, once every rank is gone.
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toBe('torchrec-node-run: stopped by SIGINT; every rank has exited\n');
    const stopped = JSON.parse(readFileSync(resultFile, 'utf8')) as Result;
    expect(stopped.stoppedBy).toBe('signal');
    const found = await newestSnapshot(saveDir);
    expect(found?.state.step).toBe(stopped.step);

    // The next run resumes on both ranks from that snapshot and trains to its (now reachable) end.
    const { file: again } = writeConfig('stopped', stopped.step + 20, 20);
    const resumedRun = launch(again, resultFile);
    expect(await resumedRun.exited).toBe(0);
    expect(resumedRun.stderr()).toBe('');
    const resumed = JSON.parse(readFileSync(resultFile, 'utf8')) as Result;
    expect(resumed).toMatchObject({ resumedFrom: stopped.step, step: stopped.step + 20, stoppedBy: 'done' });
  }, 150_000);
});
