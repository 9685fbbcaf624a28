/**
 * Shared pieces of the reliability and bad-input tests: small collections with deterministic weights,
 * and a runner for child node processes that load lib/ through ts_register.js. Child processes
 * require this file outside jest, so it uses no jest globals (error assertions are in errors.ts).
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { EmbeddingBagCollection } from '../../lib';

export interface TableDef {
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  feature_names?: string[];
  pooling?: 'SUM' | 'MEAN';
  data_type?: 'fp32' | 'fp16';
}

/** Deterministic weights: row r, column d of table t holds a small distinct value. */
export function patternWeights(t: TableDef, salt = 0): Float32Array {
  const w = new Float32Array(t.num_embeddings * t.embedding_dim);
  for (let i = 0; i < w.length; i++) w[i] = ((Math.imul(i + salt * 7919, 2654435761 | 0) >>> 0) % 2001) / 1000 - 1;
  return w;
}

/** An EBC whose weights are set to patternWeights, so that every process computes the same. */
export function patternEbc(
  tables: TableDef[],
  isWeighted = false,
  options: { inlineSmallForwards?: boolean } = {},
): EmbeddingBagCollection {
  const ebc = new EmbeddingBagCollection({ tables, isWeighted, seed: 7, ...options });
  tables.forEach((t, i) => ebc.setWeights(t.name, patternWeights(t, i)));
  return ebc;
}

/** Two tables: `user` read by features u1, u2 (dim 4); `item` read by `item` (dim 3, MEAN). */
export const SMALL_TABLES: TableDef[] = [
  { name: 'user', num_embeddings: 10, embedding_dim: 4, feature_names: ['u1', 'u2'] },
  { name: 'item', num_embeddings: 7, embedding_dim: 3, pooling: 'MEAN' },
];

/** Bitwise equality of two Float32Arrays (the kernel's summation order is fixed per bag). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export const TS_REGISTER = path.join(__dirname, 'ts_register.js');
export const CHILDREN_DIR = path.join(__dirname, '..', 'reliability', 'children');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started child node process; `done` resolves however it ends. */
export interface Running {
  child: ChildProcess;
  done: Promise<ChildResult>;
}

/** Starts `node args...` with exactly `env`; SIGKILLed after killAfterMs, as hang protection. */
export function startNode(args: string[], env: NodeJS.ProcessEnv, killAfterMs: number): Running {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<ChildResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

/**
 * Runs `node [nodeArgs] -r ts_register.js children/<script> [args]` with this process's environment
 * plus `env` (so TORCHREC_NODE_ADDON, when set, applies there too). Resolves however the child ends.
 */
export function runChild(
  script: string,
  args: string[] = [],
  o: { nodeArgs?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  const argv = [...(o.nodeArgs ?? []), '-r', TS_REGISTER, path.join(CHILDREN_DIR, script), ...args];
  return startNode(argv, { ...process.env, ...o.env }, o.timeoutMs ?? 45000).done;
}

/** The last line of a child's stdout parsed as JSON (children report one JSON line at the end). */
export function lastJson<T>(r: ChildResult): T {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}
