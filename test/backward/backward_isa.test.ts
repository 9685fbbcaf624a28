/**
 * The CPU backward's row loop is compiled for several instruction sets (portable, AVX2, AVX-512) and
 * picked at run time; TORCHREC_CPU_KERNEL caps the choice. Every copy, with one thread or two, must
 * leave the same bits in every weight and optimizer state as the portable copy on one thread, over
 * random steps of every optimizer rule (isa_cases.ts). The portable copy itself is pinned to the
 * plain-JS reference by backward_random.test.ts and to FBGEMM's numbers by optimizers_golden.test.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { testIf } from '../helpers/skip';
import { ISA_SEEDS } from './isa_cases';

function runChild(isa: string, threads: number): string[] {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'run_isa_cases.js'), String(threads)], {
    env: { ...process.env, TORCHREC_CPU_KERNEL: isa },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0)
    throw new Error(`child (${isa}, ${threads} threads) failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}').digests;
}

const cpuFlags = (() => {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m);
    return new Set(line ? line[1].trim().split(/\s+/) : []);
  } catch {
    return new Set<string>();
  }
})();
const hasAvx2 = ['avx2', 'fma', 'f16c'].every((f) => cpuFlags.has(f));
const hasAvx512 = hasAvx2 && ['avx512f', 'avx512vl', 'avx512bw', 'avx512dq'].every((f) => cpuFlags.has(f));

let reference: string[] = [];
beforeAll(() => {
  reference = runChild('portable', 1);
}, 130_000);

test('the cases ran, one digest each', () => {
  expect(reference).toHaveLength(ISA_SEEDS.length);
});

test('portable, 2 threads: the same bits as 1 thread', () => {
  expect(runChild('portable', 2)).toEqual(reference);
}, 130_000);

describe.each([1, 2])('%i thread(s)', (threads) => {
  testIf(
    hasAvx2,
    'avx2: the same bits as portable',
    'this CPU has no AVX2/FMA/F16C',
    () => {
      expect(runChild('avx2', threads)).toEqual(reference);
    },
    130_000,
  );

  testIf(
    hasAvx512,
    'avx512: the same bits as portable',
    'this CPU has no AVX-512 F/VL/BW/DQ',
    () => {
      expect(runChild('avx512', threads)).toEqual(reference);
    },
    130_000,
  );
});
