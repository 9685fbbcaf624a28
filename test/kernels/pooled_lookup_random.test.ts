/**
 * The fused pooled lookup against a plain-JS reference over many random shapes: dims that are not
 * multiples of 8 (and above 64), empty and huge bags, ids full of duplicates, fp16 and fp32 tables,
 * int32 and int64 ids, lengths and offsets, weighted and MEAN, shared features, unused keys, and big
 * batches that take the multi-threaded split and software prefetch. Results must match bit for bit,
 * on the AVX2/F16C path and on the portable one, with one thread or several.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { setNumThreads, getNumThreads } from '../../lib';
import { roundToFp16 } from '../helpers/fp16';
import { BIG_SEEDS, SMALL_SEEDS, checkCase, randomCase } from './pooled_lookup_reference';

test('the reference rounds to fp16 like IEEE round-half-to-even', () => {
  expect(roundToFp16(1)).toBe(1);
  expect(roundToFp16(65504)).toBe(65504);
  expect(roundToFp16(65519.99)).toBe(65504);
  expect(roundToFp16(65520)).toBe(Infinity);
  expect(roundToFp16(-65520)).toBe(-Infinity);
  expect(roundToFp16(1 + 2 ** -11)).toBe(1); // a tie: to even
  expect(roundToFp16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // a tie: to even (up)
  expect(roundToFp16(2 ** -24)).toBe(2 ** -24); // smallest subnormal
  expect(roundToFp16(2 ** -25)).toBe(0); // a tie with 0: to even
  expect(Object.is(roundToFp16(-(2 ** -26)), -0)).toBe(true);
  expect(roundToFp16(0.1)).toBe(0.0999755859375);
});

describe('random cases, in this process (default instruction set)', () => {
  test.each(SMALL_SEEDS)('seed %i', async (seed) => {
    expect(await checkCase(randomCase(seed), seed)).toEqual([]);
  });

  test.each(BIG_SEEDS)('big case, seed %i (threads, prefetch)', async (seed) => {
    expect(await checkCase(randomCase(seed, true), seed)).toEqual([]);
  });

  test('one thread gives the same bits as several', async () => {
    const before = getNumThreads();
    setNumThreads(1);
    try {
      for (const seed of BIG_SEEDS.slice(0, 2)) expect(await checkCase(randomCase(seed, true), seed)).toEqual([]);
    } finally {
      setNumThreads(before);
    }
  });
});

function runChild(env: Record<string, string>, threads: number): { cases: number; problems: string[] } {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'run_random_cases.js'), String(threads)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
}

test('the portable path (TORCHREC_CPU_KERNEL=portable) gives the same bits', () => {
  const out = runChild({ TORCHREC_CPU_KERNEL: 'portable', TORCHREC_PREFETCH_ROWS: '3' }, 2);
  expect(out.cases).toBe(SMALL_SEEDS.length + BIG_SEEDS.length);
  expect(out.problems).toEqual([]);
});

test('the default path with prefetching off and on every call gives the same bits', () => {
  expect(runChild({ TORCHREC_PREFETCH_ROWS: '0' }, 2).problems).toEqual([]);
  expect(runChild({ TORCHREC_PREFETCH_ROWS: '1' }, 1).problems).toEqual([]);
});
