/**
 * 10,000 seeded random malformed KJTs and configs (test/helpers/fuzz.ts) in this process, and a few
 * hundred more in a child process where a hard crash would show as a signal. Every case either
 * succeeds with an output of the right shape or ends in a TorchrecError with a documented code.
 * A failure names its seed and case number; rerun fuzz(seed, n) to reproduce it.
 */
import { fuzz, FuzzReport } from '../helpers/fuzz';
import { lastJson, runChild } from '../helpers/reliability';

const SEED = Number(process.env.TORCHREC_FUZZ_SEED ?? 20240601);

function summary(r: FuzzReport): string {
  return `seed ${r.seed}: ${r.cases} cases, ${r.succeeded} succeeded, errors ${JSON.stringify(r.codes)}`;
}

test('10,000 random malformed inputs: each succeeds or is a documented TorchrecError', async () => {
  const report = await fuzz(SEED, 10_000);
  if (process.env.TORCHREC_TEST_VERBOSE) process.stdout.write(`${summary(report)}\n`);
  expect(report.failures.slice(0, 20)).toEqual([]);
  // The mix is worth something only if it reaches every layer: successes, KJT validation, the
  // native id check and the config validation.
  expect(report.succeeded).toBeGreaterThan(1000);
  for (const code of [
    'ERR_INVALID_KJT',
    'ERR_DTYPE',
    'ERR_SHAPE',
    'ERR_INDEX_OUT_OF_RANGE',
    'ERR_MISSING_FEATURE',
    'ERR_INVALID_CONFIG',
    'ERR_DEVICE',
  ]) {
    expect({ code, seen: (report.codes[code] ?? 0) > 0 }).toEqual({ code, seen: true });
  }
});

test('500 more in a child process (with MALLOC_PERTURB_) end without a crash', async () => {
  // glibc then fills fresh allocations with 0x5a bytes: an output element the kernel never wrote
  // reads as 1.5e16 instead of a plausible 0, and the fuzz's magnitude check catches it.
  const r = await runChild('fuzz_child.js', [String(SEED + 1), '500'], { env: { MALLOC_PERTURB_: '165' } });
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  const report = lastJson<FuzzReport>(r);
  expect(report.failures).toEqual([]);
  expect(report.cases).toBe(500);
});
