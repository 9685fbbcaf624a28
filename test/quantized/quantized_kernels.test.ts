/**
 * The fused dequantize-and-pool kernels: the AVX-512 path (where the CPU has it), the AVX2+FMA path and
 * the portable one give the same bits on
 * random shapes (int8/int4/int2, dims with and without a tail, empty and long bags, duplicate ids,
 * weighted, MEAN, int32 and int64 ids), with one thread or two, big batches included (the threaded split).
 * Agreement with PyTorch's ops is quantize_oracle.test.ts's job.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { BIG_KERNEL_SEEDS, KERNEL_SEEDS, MIXED_SEEDS, caseOutputs, mixedCaseOutput } from './quantized_reference';

interface ChildOut {
  small: string[];
  big: string[];
  mixed: string[];
}

function runChild(env: Record<string, string>, threads: number): ChildOut {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'run_kernel_cases.js'), String(threads)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ChildOut;
}

function mismatches(a: string[], b: string[], seeds: number[]): number[] {
  return seeds.filter((_, i) => a[i] !== b[i]);
}

let here: ChildOut;

beforeAll(async () => {
  const mixed: string[] = [];
  for (const seed of MIXED_SEEDS) mixed.push(await mixedCaseOutput(seed));
  here = { small: await caseOutputs(KERNEL_SEEDS, false), big: await caseOutputs(BIG_KERNEL_SEEDS, true), mixed };
}, 180_000);

function expectSameBits(child: ChildOut): void {
  expect(mismatches(child.small, here.small, KERNEL_SEEDS)).toEqual([]);
  expect(mismatches(child.big, here.big, BIG_KERNEL_SEEDS)).toEqual([]);
  expect(mismatches(child.mixed, here.mixed, MIXED_SEEDS)).toEqual([]);
}

test('every case produced output', () => {
  expect(here.small).toHaveLength(KERNEL_SEEDS.length);
  expect(here.big).toHaveLength(BIG_KERNEL_SEEDS.length);
  expect(here.mixed).toHaveLength(MIXED_SEEDS.length);
  expect([...here.big, ...here.mixed].every((h) => h.length > 0)).toBe(true);
});

test('the portable path (TORCHREC_CPU_KERNEL=portable) gives the same bits, with 2 threads', () => {
  expectSameBits(runChild({ TORCHREC_CPU_KERNEL: 'portable' }, 2));
}, 180_000);

test('the AVX2 path (TORCHREC_CPU_KERNEL=avx2) gives the same bits as the default one, with 2 threads', () => {
  expectSameBits(runChild({ TORCHREC_CPU_KERNEL: 'avx2' }, 2));
}, 180_000);

test('the default path with one thread (and a short prefetch distance) gives the same bits as with several', () => {
  expectSameBits(runChild({ TORCHREC_QUANTIZED_PREFETCH_BYTES: '100' }, 1));
}, 180_000);
