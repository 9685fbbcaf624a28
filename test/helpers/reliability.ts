/**
 * Shared pieces of the reliability and bad-input tests: error assertions, small collections and
 * KJTs, a seeded PRNG, and a runner for child node processes that load lib/ through ts_register.js.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from '../../lib';

/** The codes the public API documents (DESIGN.md) plus ERR_INVALID_ARGUMENT (lib/errors.ts). */
export const DOCUMENTED_CODES: readonly string[] = [
  'ERR_INVALID_CONFIG',
  'ERR_INVALID_KJT',
  'ERR_INDEX_OUT_OF_RANGE',
  'ERR_MISSING_FEATURE',
  'ERR_INVALID_MODE',
  'ERR_SHAPE',
  'ERR_DTYPE',
  'ERR_DEVICE',
  'ERR_CHECKPOINT',
  'ERR_DISPOSED',
  'ERR_DISTRIBUTED',
  'ERR_INVALID_ARGUMENT',
];

function checkError(caught: unknown, code: string, mentions: (string | RegExp)[]): TorchrecError {
  expect(caught).toBeInstanceOf(TorchrecError);
  const e = caught as TorchrecError;
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.any(String) });
  for (const m of mentions) {
    if (typeof m === 'string') expect(e.message).toContain(m);
    else expect(e.message).toMatch(m);
  }
  // The binding strips libtorch's C++ backtrace; nothing of C++ should reach a user.
  expect(e.message).not.toMatch(/Exception raised from|frame #\d|c10::/);
  return e;
}

/** Runs `fn`, asserts a TorchrecError with `code` whose message contains every one of `mentions`. */
export function expectThrows(fn: () => unknown, code: string, ...mentions: (string | RegExp)[]): TorchrecError {
  let caught: unknown = undefined;
  let threw = false;
  try {
    fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  expect(threw).toBe(true);
  return checkError(caught, code, mentions);
}

/** Awaits `p`, asserts it rejected with a TorchrecError with `code` whose message has `mentions`. */
export async function expectRejects(
  p: Promise<unknown>,
  code: string,
  ...mentions: (string | RegExp)[]
): Promise<TorchrecError> {
  // A thenable check, not instanceof: see the realm test in test/api/forward_errors.test.ts.
  expect(typeof (p as { then?: unknown } | null)?.then).toBe('function');
  let caught: unknown = undefined;
  let rejected = false;
  try {
    await p;
  } catch (e) {
    caught = e;
    rejected = true;
  }
  expect(rejected).toBe(true);
  return checkError(caught, code, mentions);
}

/** Both entry points: forward rejects (never throws synchronously) and forwardSync throws. */
export async function expectForwardFails(
  ebc: EmbeddingBagCollection,
  kjt: unknown,
  code: string,
  ...mentions: (string | RegExp)[]
): Promise<void> {
  let pending: Promise<unknown> | undefined;
  expect(() => {
    pending = ebc.forward(kjt as KeyedJaggedTensor);
  }).not.toThrow();
  await expectRejects(pending as Promise<unknown>, code, ...mentions);
  expectThrows(() => ebc.forwardSync(kjt as KeyedJaggedTensor), code, ...mentions);
}

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
export function patternEbc(tables: TableDef[], isWeighted = false): EmbeddingBagCollection {
  const ebc = new EmbeddingBagCollection({ tables, isWeighted, seed: 7 });
  tables.forEach((t, i) => ebc.setWeights(t.name, patternWeights(t, i)));
  return ebc;
}

/** Two tables: `user` read by features u1, u2 (dim 4); `item` read by `item` (dim 3, MEAN). */
export const SMALL_TABLES: TableDef[] = [
  { name: 'user', num_embeddings: 10, embedding_dim: 4, feature_names: ['u1', 'u2'] },
  { name: 'item', num_embeddings: 7, embedding_dim: 3, pooling: 'MEAN' },
];

/** Mulberry32: small, fast, seeded; failures print their seed and reproduce. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

/** A random valid key-major batch for `features` over tables of `rows` rows: keys, values, lengths. */
export function randomBatch(
  rng: Rng,
  features: string[],
  rows: Record<string, number>,
  batch: number,
  maxLen: number,
): { keys: string[]; values: Int32Array; lengths: Int32Array; weights: Float32Array } {
  const lengths = new Int32Array(features.length * batch);
  const ids: number[] = [];
  features.forEach((f, k) => {
    for (let b = 0; b < batch; b++) {
      const len = rng.int(0, maxLen);
      lengths[k * batch + b] = len;
      for (let i = 0; i < len; i++) ids.push(rng.int(0, rows[f] - 1));
    }
  });
  const weights = Float32Array.from(ids, () => rng.int(-8, 8) / 4);
  return { keys: [...features], values: Int32Array.from(ids), lengths, weights };
}

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

/**
 * Runs `node [nodeArgs] -r ts_register.js children/<script> [args]` with this process's environment
 * plus `env` (so TORCHREC_NODE_ADDON, when set, applies there too). Resolves however the child ends.
 */
export function runChild(
  script: string,
  args: string[] = [],
  o: { nodeArgs?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...(o.nodeArgs ?? []), '-r', TS_REGISTER, path.join(CHILDREN_DIR, script), ...args],
      { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 45000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The last line of a child's stdout parsed as JSON (children report one JSON line at the end). */
export function lastJson<T>(r: ChildResult): T {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}
