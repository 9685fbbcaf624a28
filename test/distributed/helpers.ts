/**
 * Multi-process helpers for test/distributed: every rank is a real node process on 127.0.0.1, every
 * group gets a port the system picked (never a fixed one, so test files in parallel cannot clash)
 * and an explicit short timeoutMs.
 */
import * as net from 'net';
import * as path from 'path';
import { ChildResult, Running, startNode, TS_REGISTER } from '../helpers/reliability';

export { lastJson } from '../helpers/reliability';
export type { ChildResult, Running };

export const CHILD = path.join(__dirname, 'children', 'pg_child.js');
export const LAUNCHER = path.join(__dirname, '..', '..', 'bin', 'torchrec-node-run.js');

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** This environment without torchrun's variables, so that only what a test sets reaches a rank. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of [
    'RANK',
    'WORLD_SIZE',
    'LOCAL_RANK',
    'LOCAL_WORLD_SIZE',
    'MASTER_ADDR',
    'MASTER_PORT',
    'GROUP_RANK',
  ]) {
    delete env[k];
  }
  delete env.TORCHELASTIC_USE_AGENT_STORE;
  return { ...env, ...extra };
}

/** Starts `node args...`; `done` resolves however it ends (SIGKILLed after killAfterMs, as hang protection). */
export function start(args: string[], env: NodeJS.ProcessEnv, killAfterMs = 60000): Running {
  return startNode(args, env, killAfterMs);
}

/** One rank of pg_child.js running `scenario`. */
export function startRank(scenario: string, env: Record<string, string>, initOptions: object = {}): Running {
  return start(['-r', TS_REGISTER, CHILD, scenario, JSON.stringify(initOptions)], cleanEnv(env));
}

/** `worldSize` ranks of `scenario` with torchrun's variables set (plus `env`, and `initOptions` on top). */
export async function startRanks(
  scenario: string,
  worldSize: number,
  initOptions: object = {},
  env: Record<string, string> = {},
): Promise<Running[]> {
  const port = await freePort();
  return Array.from({ length: worldSize }, (_, r) =>
    startRank(
      scenario,
      { ...env, RANK: String(r), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      initOptions,
    ),
  );
}

/** Whether a process with this pid still exists (a zombie of ours counts as gone once reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
