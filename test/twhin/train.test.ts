import { spawn } from 'child_process';
import { existsSync, rmSync, readdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { newestSnapshot } from '../../lib';
import { TwhinConfig } from '../../examples/twhin/config';
import { TwhinModel } from '../../examples/twhin/model';
import { runTwhin } from '../../examples/twhin/run';
import { tinyConfig, tinyGraph, tinyRawConfig, tmpDir } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

describe('TwHIN training', () => {
  let dir: string;
  let data: { train: string; validation: string };
  beforeAll(async () => {
    dir = tmpDir('train');
    data = await tinyGraph(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('learns the planted communities: loss falls and held-out AUC and MRR are far above chance', async () => {
    const losses: number[] = [];
    const { model, result } = await runTwhin(tinyConfig(data, path.join(dir, 'learn')), {
      reporter: {
        start: () => undefined,
        update: () => undefined,
        stop: () => undefined,
        log: (r) => {
          if (r.event === 'train') losses.push(r.loss as number);
        },
      },
    });
    expect(result).toMatchObject({ step: 300, stoppedBy: 'done' });
    expect(losses.at(-1)).toBeLessThan(losses[0] * 0.8);
    const ev = result.lastEval as { auc: number; mrr: number; auc_by_relation: Record<string, number> };
    expect(ev.auc).toBeGreaterThan(0.75);
    // Chance MRR with 5 negatives and pessimistic ties is (1 + 1/2 + ... + 1/6) / 6 = 0.41.
    expect(ev.mrr).toBeGreaterThan(0.55);
    for (const name of ['fav', 'reply']) expect(ev.auc_by_relation[name]).toBeGreaterThan(0.7);
    model.embeddings.ebc.dispose();
  });

  it('resumes after being killed: continues from the snapshot step with the snapshot weights', async () => {
    const saveDir = path.join(dir, 'killed');
    const raw = tinyRawConfig(data, saveDir, { steps: 1_000_000 });
    raw.training.checkpoint_every_n = 10;
    const file = path.join(dir, 'killed.yaml');
    writeFileSync(file, stringify(raw));

    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'examples/twhin/run.ts'), file],
      {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const complete = (): boolean =>
      existsSync(saveDir) && readdirSync(saveDir).some((d) => existsSync(path.join(saveDir, d, 'trainer_state.json')));
    const deadline = Date.now() + 40_000;
    while (!complete() && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toBe('');
    expect(complete()).toBe(true);

    const found = await newestSnapshot(saveDir);
    const S = found!.state.step;
    expect(S % 10).toBe(0);
    const snap = new TwhinModel(new TwhinConfig(raw).model, new TwhinConfig(raw).train_data);
    await snap.embeddings.restoreSnapshot(found!.dir);
    snap.restore(found!.state.extra);

    // Restarted with the snapshot's step as the target: nothing to train, so what we see is what was restored.
    const same = await runTwhin(tinyConfig(data, saveDir, { steps: S }), { progress: false, reporter: quiet() });
    expect(same.result).toMatchObject({ resumedFrom: S, step: S });
    for (const table of ['user', 'tweet']) {
      expect(Array.from(same.model.embeddings.ebc.getWeights(table))).toEqual(
        Array.from(snap.embeddings.ebc.getWeights(table)),
      );
    }
    expect(Array.from(same.model.translation)).toEqual(Array.from(snap.translation));
    same.model.embeddings.ebc.dispose();

    const more = await runTwhin(tinyConfig(data, saveDir, { steps: S + 5 }), { reporter: quiet() });
    expect(more.result).toMatchObject({ resumedFrom: S, step: S + 5 });
    expect(more.model.embeddings.step).toBe(S + 5);
    more.model.embeddings.ebc.dispose();
    snap.embeddings.ebc.dispose();
  });
});

function quiet() {
  return { start: () => undefined, update: () => undefined, stop: () => undefined, log: () => undefined };
}
