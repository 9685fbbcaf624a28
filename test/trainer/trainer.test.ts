import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'fs';

import * as path from 'path';
import {
  JsonLinesReporter,
  KeyedJaggedTensor,
  LargeEmbeddings,
  LogRecord,
  ProcessGroup,
  train,
  TrainableModule,
  TrainOptions,
} from '../../lib';
import { tmpDir } from '../helpers/tmp';

const ROWS = 6;
const DIM = 3;

function makeModel(): LargeEmbeddings {
  return new LargeEmbeddings(
    {
      tables: [{ name: 'item', num_embeddings: ROWS, embedding_dim: DIM, optimizer: { sgd: { lr: 0.1 } } }],
      tables_to_log: ['item'],
    },
    { seed: 5 },
  );
}

/** Step s pulls row s % ROWS toward zero (gradient = its pooled value), so weights change every step. */
function stepper(model: LargeEmbeddings, onStep: (s: number) => void = () => undefined) {
  return async (s: number) => {
    onStep(s);
    const kjt = KeyedJaggedTensor.fromLengths({ keys: ['item'], values: [s % ROWS], lengths: [1] });
    const out = (await model.forward(kjt)).values();
    await model.backward(kjt, Float32Array.from(out));
    return { loss: out.reduce((a, x) => a + x * x, 0), examples: 1 };
  };
}

function capture(): { records: LogRecord[]; reporter: JsonLinesReporter } {
  const records: LogRecord[] = [];
  return { records, reporter: new JsonLinesReporter((line) => records.push(JSON.parse(line) as LogRecord)) };
}

const made: string[] = [];
function tmp(): string {
  made.push(tmpDir('trainer'));
  return made[made.length - 1];
}
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function base(model: LargeEmbeddings, saveDir: string, o: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model,
    trainStep: stepper(model),
    numTrainSteps: 10,
    trainLogEveryN: 5,
    checkpointEveryN: 4,
    saveDir,
    keepSnapshots: 2,
    tablesToLog: ['item'],
    ...o,
  };
}

describe('train', () => {
  it('logs, evaluates and snapshots on schedule, keeping the newest snapshots', async () => {
    const model = makeModel();
    const saveDir = tmp();
    const { records, reporter } = capture();
    let evals = 0;
    const r = await train({
      ...base(model, saveDir),
      reporter,
      evalEveryN: 5,
      evaluate: async () => ({ metric: ++evals }),
    });
    expect(r).toMatchObject({ step: 10, resumedFrom: 0, stoppedBy: 'done' });
    const trainRecs = records.filter((x) => x.event === 'train');
    expect(trainRecs.map((x) => x.step)).toEqual([5, 10]);
    for (const x of trainRecs) {
      expect(x).toEqual(
        expect.objectContaining({
          loss: expect.any(Number),
          steps_per_s: expect.any(Number),
          examples_per_s: expect.any(Number),
        }),
      );
      expect((x.table_norms as Record<string, number>).item).toBeGreaterThan(0);
    }
    expect(records.filter((x) => x.event === 'eval').map((x) => [x.step, x.metric])).toEqual([
      [5, 1],
      [10, 2],
    ]);
    expect(records.filter((x) => x.event === 'snapshot').map((x) => x.step)).toEqual([4, 8, 10]);
    expect(readdirSync(saveDir).sort()).toEqual(['10', '8']); // snapshot 4 pruned
    model.ebc.dispose();
  });

  it('resumes from the newest complete snapshot with step, walltime, weights and extra state', async () => {
    const saveDir = tmp();
    const first = makeModel();
    let extra = 0;
    const extraState = { save: () => ({ extra }), restore: (s: unknown) => (extra = (s as { extra: number }).extra) };
    await train({
      ...base(first, saveDir, { trainStep: stepper(first, () => extra++) }),
      extraState,
      reporter: capture().reporter,
    });
    const weightsAt10 = first.ebc.getWeights('item');
    first.ebc.dispose();
    // A newer directory without trainer_state.json is a save cut short by a crash: never resumed from.
    mkdirSync(path.join(saveDir, '12'));
    writeFileSync(path.join(saveDir, '12', 'junk'), 'x');

    const second = makeModel();
    extra = -100;
    const seen: number[] = [];
    const { records, reporter } = capture();
    let weightsAtResume: Float32Array | undefined;
    const r = await train({
      ...base(second, saveDir, { numTrainSteps: 13 }),
      extraState,
      reporter,
      trainStep: stepper(second, (s) => {
        weightsAtResume ??= second.ebc.getWeights('item');
        seen.push(s);
      }),
    });
    expect(r.resumedFrom).toBe(10);
    expect(seen).toEqual([10, 11, 12]);
    expect(Array.from(weightsAtResume ?? [])).toEqual(Array.from(weightsAt10));
    expect(extra).toBe(10); // restored (10 steps counted), not the -100 set before
    expect(records[0]).toMatchObject({ event: 'resume', step: 10 });
    expect(r.walltime).toBeGreaterThanOrEqual((records[0].walltime as number) ?? 0);
    expect(second.step).toBe(13);
    second.ebc.dispose();
  });

  it('stops cleanly on SIGINT after the current step, with a final snapshot', async () => {
    const model = makeModel();
    const saveDir = tmp();
    const step = stepper(model);
    const r = await train({
      ...base(model, saveDir, { numTrainSteps: 1000, checkpointEveryN: 500 }),
      reporter: capture().reporter,
      trainStep: async (s) => {
        const out = await step(s);
        if (s === 2) process.emit('SIGINT');
        return out;
      },
    });
    expect(r).toMatchObject({ step: 3, stoppedBy: 'signal' });
    const atStop = model.ebc.getWeights('item');
    const fresh = makeModel();
    expect((await fresh.restoreSnapshot(path.join(saveDir, '3'))).step).toBe(3);
    expect(Array.from(fresh.ebc.getWeights('item'))).toEqual(Array.from(atStop));
    model.ebc.dispose();
    fresh.ebc.dispose();
  });

  it('keeps a SIGINT that lands while the ranks agree whether to stop, and stops after the next step', async () => {
    // A real one-rank process group whose third agreement is still in flight when the signal comes: the
    // answer it brings back (nobody asked to stop) must not erase the request.
    const pg = await ProcessGroup.init({ worldSize: 1, rank: 0, masterPort: 0, timeoutMs: 5000 });
    let agreements = 0;
    const signalled = {
      rank: pg.rank,
      barrier: () => pg.barrier(),
      allreduce: (x: Float32Array) => {
        const answer = pg.allreduce(x);
        if (++agreements === 3) process.emit('SIGINT');
        return answer;
      },
    } as unknown as ProcessGroup;
    const model = makeModel();
    const sharded: TrainableModule = {
      get step() {
        return model.step;
      },
      setStep: (s) => model.setStep(s),
      saveSnapshot: (dir, extra) => model.saveSnapshot(dir, extra),
      restoreSnapshot: (dir) => model.restoreSnapshot(dir),
      processGroup: signalled,
    };
    try {
      const r = await train({
        ...base(model, tmp(), { numTrainSteps: 1000, checkpointEveryN: 500 }),
        model: sharded,
        tablesToLog: undefined,
        reporter: capture().reporter,
      });
      expect(r).toMatchObject({ step: 3, stoppedBy: 'signal' });
      expect(agreements).toBe(4);
    } finally {
      model.ebc.dispose();
      pg.destroy();
    }
  });

  it('fails with ERR_CHECKPOINT before any step when save_dir is not writable', async () => {
    const model = makeModel();
    const blocker = path.join(tmp(), 'file');
    writeFileSync(blocker, 'x');
    let steps = 0;
    await expect(
      train({ ...base(model, path.join(blocker, 'ckpt')), trainStep: async () => ({ loss: steps++, examples: 1 }) }),
    ).rejects.toMatchObject({ code: 'ERR_CHECKPOINT' });
    expect(steps).toBe(0);
    expect(existsSync(path.join(blocker, 'ckpt'))).toBe(false);
    model.ebc.dispose();
  });
});
