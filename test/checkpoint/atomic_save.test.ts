/**
 * Saving never loses the previous snapshot: a child process saving in a loop is SIGKILLed at random
 * moments, and each time the directory restores to one complete snapshot — the last one the child
 * reported or the one it was writing — never a mix. The interrupted-swap states a kill can leave
 * (between the two renames) are built by hand too, since a random kill rarely lands there.
 */
import { spawn, spawnSync } from 'child_process';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection } from '../../lib';
import { restoreSnapshot, saveSnapshot } from '../../lib/checkpoint';
import { CHILD_TABLES, pattern } from './children/pattern';
import { expectCheckpointError, sha256, tmpDir } from './helpers';

const CHILD = path.join(__dirname, 'children', 'save_loop.ts');
const ROUNDS = 5;

function fresh(): EmbeddingBagCollection {
  return new EmbeddingBagCollection({ tables: CHILD_TABLES, seed: 77 });
}

/** Restores `dir` and checks every table and state is pattern(step) of one and the same step. */
async function restoreWhole(dir: string): Promise<number> {
  const m = fresh();
  const { step, walltime } = await restoreSnapshot(m, dir);
  expect(walltime).toBe(step / 4);
  for (const t of m.tables) {
    expect({ table: t.name, step, sha: sha256(m.getWeights(t.name)) }).toEqual({
      table: t.name,
      step,
      sha: sha256(pattern(step, t.num_embeddings * t.embedding_dim)),
    });
    for (const [name, v] of Object.entries(m.optimizerState(t.name))) {
      expect({ table: t.name, name, sha: sha256(v) }).toEqual({
        table: t.name,
        name,
        sha: sha256(pattern(step, v.length, 0.5)),
      });
    }
  }
  return step;
}

/** Runs the save loop from `first`, kills it `delayMs` after its first completed save; returns the last acknowledged step. */
function runAndKill(dir: string, first: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD, dir, String(first)], {
      cwd: path.join(__dirname, '..', '..'),
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = 0;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      for (const m of chunk.matchAll(/saved (\d+)/g)) acked = Math.max(acked, Number(m[1]));
      if (acked > 0 && !timer) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (d) => (stderr += d));
    // 'close', not 'exit': every line the child wrote before dying has been read by then.
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`save loop exited on its own (code ${code}): ${stderr}`));
    });
  });
}

describe('a save killed at any moment leaves a complete snapshot', () => {
  let root: string;
  beforeAll(async () => {
    root = tmpDir('kill');
  });
  afterAll(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  test(`SIGKILL during repeated saves (${ROUNDS} random moments)`, async () => {
    const dir = path.join(root, 'snap');
    let lastRestored = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const first = (round + 1) * 1000;
      const acked = await runAndKill(dir, first, Math.floor(Math.random() * 1200));
      const step = await restoreWhole(dir);
      // The acknowledged save is on disk; at most the one in flight got further.
      expect(step === acked || step === acked + 1).toBe(true);
      expect(step).toBeGreaterThan(lastRestored);
      lastRestored = step;
    }
    // The next save clears what the killed writers left (they are dead) and keeps working.
    const m = fresh();
    for (const t of m.tables) m.setWeights(t.name, pattern(7, t.num_embeddings * t.embedding_dim));
    for (const t of m.tables) {
      for (const [name, v] of Object.entries(m.optimizerState(t.name)))
        m.setOptimizerState(t.name, name, pattern(7, v.length, 0.5));
    }
    await saveSnapshot(m, dir, { step: 7, walltime: 7 / 4 });
    expect(await restoreWhole(dir)).toBe(7);
    expect((await fsp.readdir(root)).sort()).toEqual(['snap']);
  }, 180_000);

  /** A pid that is certainly not running any more. */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', '0']);
    return r.pid as number;
  }

  async function snapshotAt(dir: string, step: number): Promise<void> {
    const m = fresh();
    for (const t of m.tables) m.setWeights(t.name, pattern(step, t.num_embeddings * t.embedding_dim));
    for (const t of m.tables) {
      for (const [name, v] of Object.entries(m.optimizerState(t.name)))
        m.setOptimizerState(t.name, name, pattern(step, v.length, 0.5));
    }
    await saveSnapshot(m, dir, { step, walltime: step / 4 });
  }

  test('killed between the two renames: the new snapshot is read, and the next save completes the swap', async () => {
    const dir = path.join(root, 'swap');
    const pid = deadPid();
    await snapshotAt(path.join(root, 'staging-old'), 1);
    await snapshotAt(path.join(root, 'staging-new'), 2);
    await fsp.rename(path.join(root, 'staging-old'), `${dir}.old-${pid}-0badc0de`);
    await fsp.rename(path.join(root, 'staging-new'), `${dir}.tmp-${pid}-0ddba11a`);
    expect(await restoreWhole(dir)).toBe(2);
    await snapshotAt(dir, 3);
    expect(await restoreWhole(dir)).toBe(3);
    expect((await fsp.readdir(root)).filter((n) => n.startsWith('swap'))).toEqual(['swap']);
  });

  test('an interrupted write (no metadata) is never read; the old snapshot is', async () => {
    const dir = path.join(root, 'partial');
    const pid = deadPid();
    await snapshotAt(path.join(root, 'staging-old2'), 5);
    await snapshotAt(path.join(root, 'staging-new2'), 6);
    await fsp.rm(path.join(root, 'staging-new2', '.snapshot_metadata'));
    await fsp.rename(path.join(root, 'staging-old2'), `${dir}.old-${pid}-00000001`);
    await fsp.rename(path.join(root, 'staging-new2'), `${dir}.tmp-${pid}-00000002`);
    expect(await restoreWhole(dir)).toBe(5);
  });

  test('with nothing complete anywhere, restore says there is no snapshot', async () => {
    const dir = path.join(root, 'never');
    await fsp.mkdir(`${dir}.tmp-${deadPid()}-00000003`);
    await expectCheckpointError(restoreSnapshot(fresh(), dir), [
      path.join(dir, '.snapshot_metadata'),
      'does not exist',
    ]);
  });
});
