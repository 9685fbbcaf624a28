/**
 * Shared pieces of the checkpoint tests: the Python runner (real PyTorch writes and reads the files
 * Node reads and writes), temporary directories, hashes, and "the module did not change" checks.
 */
import { execFile, execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { EmbeddingBagCollection, TorchrecError } from '../../lib';
import { floatToHalf } from '../../lib/checkpoint/dtypes';
import { describeIf } from '../helpers/skip';
import { expectRejects } from '../helpers/errors';
import { Rng } from '../helpers/random';

/** Debian's python3-torch (scripts/setup-debian.sh); override with TORCHREC_TEST_PYTHON. */
export const PYTHON = process.env.TORCHREC_TEST_PYTHON ?? '/usr/bin/python3';
export const PY_DIR = path.join(__dirname, 'python');
export const SNAPSHOT_FIXTURES = path.join(__dirname, '..', 'fixtures', 'snapshots');

let pythonChecked = false;

/** Fails loudly (not a silent skip) when the interop tests cannot run; opt out with TORCHREC_SKIP_PYTHON_TESTS=1. */
function checkPython(): void {
  if (pythonChecked) return;
  try {
    execFileSync(PYTHON, ['-c', 'import torch, yaml, numpy'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(
      `the checkpoint interop tests need ${PYTHON} with torch, yaml and numpy (Debian: apt-get install python3-torch ` +
        `python3-yaml); set TORCHREC_TEST_PYTHON to another interpreter or TORCHREC_SKIP_PYTHON_TESTS=1 to skip them. ` +
        `(${(e as Error).message.split('\n')[0]})`,
    );
  }
  pythonChecked = true;
}

/** A describe block that needs Python's torch; TORCHREC_SKIP_PYTHON_TESTS=1 skips it, saying so in its title. */
export function describePython(title: string, body: () => void): void {
  describeIf(process.env.TORCHREC_SKIP_PYTHON_TESTS !== '1', title, 'TORCHREC_SKIP_PYTHON_TESTS=1', body);
}

/** Runs test/checkpoint/python/<script> and parses the JSON it prints. */
export function python<T = Record<string, unknown>>(script: string, args: string[]): Promise<T> {
  checkPython();
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [path.join(PY_DIR, script), ...args],
      { cwd: PY_DIR, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${script} ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
  });
}

export { tmpDir } from '../helpers/tmp';

export function sha256(data: ArrayBufferView): string {
  return createHash('sha256')
    .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    .digest('hex');
}

/** The little-endian bytes a table's weights have on disk in `dtype`. */
export function storedBytes(w: Float32Array, dtype: 'torch.float32' | 'torch.float16' | string): Uint8Array {
  if (dtype === 'torch.float32') return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  const h = new Uint16Array(w.length);
  for (let i = 0; i < w.length; i++) h[i] = floatToHalf(w[i]);
  return new Uint8Array(h.buffer);
}

/** Everything restore may touch: weights, optimizer state and step, for "left exactly as it was". */
export function moduleState(m: EmbeddingBagCollection): {
  weights: Record<string, string>;
  optimizer: unknown;
  step: number;
} {
  const hash = (r: Record<string, Float32Array>): Record<string, string> =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, sha256(v)]));
  return {
    weights: Object.fromEntries(m.tables.map((t) => [t.name, sha256(m.getWeights(t.name))])),
    optimizer: Object.fromEntries(m.tables.map((t) => [t.name, hash(m.optimizerState(t.name))])),
    step: m.step,
  };
}

/** Awaits `p`, expects ERR_CHECKPOINT whose message contains every `mention`; returns the error. */
export function expectCheckpointError(p: Promise<unknown>, mentions: (string | RegExp)[]): Promise<TorchrecError> {
  return expectRejects(p, 'ERR_CHECKPOINT', ...mentions);
}

/** Deterministic pseudo-random floats in [-scale, scale), for weights the tests set. */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

export async function copyDir(from: string, to: string): Promise<void> {
  await fsp.cp(from, to, { recursive: true });
}
