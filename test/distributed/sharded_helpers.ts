/**
 * The sharded-collection tests' runner: one children/sharded_child.js per rank on a free port, and
 * the assertions every parity case shares.
 */
import * as path from 'path';
import { TS_REGISTER } from '../helpers/reliability';
import { cleanEnv, freePort, lastJson, Running, start } from './helpers';

export const CHILD = path.join(__dirname, 'children', 'sharded_child.js');
export const TIMEOUT_MS = 8000;

export interface CaseResult {
  initial: number;
  forward: { maxDiff: number; excess: number };
  weights: number;
  state: number;
  steps: number;
  norms: number;
  randomNorms: Record<string, number>;
  vocab: Record<'sharded' | 'ref', Record<string, { lookups: number; missing: number }>>;
}

/** One `child` (default sharded_child.js) per rank running `scenario` with torchrun's variables (plus `env`). */
export async function startSharded(
  scenario: string,
  world: number,
  args: object,
  env: Record<string, string> | ((rank: number) => Record<string, string>) = {},
  child: string = CHILD,
): Promise<Running[]> {
  const port = await freePort();
  return Array.from({ length: world }, (_, r) =>
    start(
      ['-r', TS_REGISTER, child, scenario, JSON.stringify({ timeoutMs: TIMEOUT_MS, ...args })],
      cleanEnv({
        ...(typeof env === 'function' ? env(r) : env),
        RANK: String(r),
        WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      }),
      60000,
    ),
  );
}

/** Every rank's last JSON line (null for a victim that was SIGKILLed); throws on a rank's fatal error. */
export async function run<T>(
  scenario: string,
  world: number,
  args: object,
  env: Record<string, string> | ((rank: number) => Record<string, string>) = {},
  child: string = CHILD,
): Promise<T[]> {
  const ranks = await startSharded(scenario, world, args, env, child);
  const results = await Promise.all(ranks.map((r) => r.done));
  return results.map((res) => {
    if (res.signal === 'SIGKILL' && (args as { victim?: number }).victim !== undefined) return null as T;
    const out = lastJson<T & { fatal?: unknown }>(res);
    if (out.fatal) throw new Error(`rank failed: ${JSON.stringify(out)}\n${res.stderr}`);
    return out;
  });
}

export const table = (name: string, n: number, d: number, extra: object = {}) => ({
  name,
  num_embeddings: n,
  embedding_dim: d,
  ...extra,
});

export function expectExact(r: CaseResult): void {
  expect(r.norms).toBe(0);
  expect(r.initial).toBe(0);
  expect(r.forward.maxDiff).toBe(0);
  expect(r.weights).toBe(0);
  expect(r.state).toBe(0);
}

export function expectRowWise(r: CaseResult): void {
  expect(r.norms).toBe(0);
  expect(r.initial).toBe(0);
  expect(r.forward.excess).toBeLessThanOrEqual(0);
  // Each row's gradient sums on its one owner in global-batch order: the update is the same.
  expect(r.weights).toBe(0);
  expect(r.state).toBe(0);
}
