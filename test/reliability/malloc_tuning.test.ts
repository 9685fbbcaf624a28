/**
 * Big results reuse warm memory: with the addon's glibc malloc tuning, rounds of forwards whose results
 * are 8 MiB each, collected three at a time, fault in almost none of their pages; with glibc's defaults
 * the freed results go back to the kernel and fault in again every round. The tuning steps aside when
 * asked to or when the user set glibc's own malloc variables.
 */
import { lastJson, runChild } from '../helpers/reliability';
import { testIf } from '../helpers/skip';

interface Faults {
  mallocTuning: string;
  rounds: number;
  resultsPerRound: number;
  pagesPerResult: number;
  faults: number;
}

async function measure(env: Record<string, string>): Promise<Faults> {
  const r = await runChild('result_faults.js', ['20'], { env, nodeArgs: ['--expose-gc'], timeoutMs: 60000 });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  return lastJson<Faults>(r);
}

function glibcVersion(): string | undefined {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime;
}

const onGlibc = glibcVersion() !== undefined;

testIf(onGlibc, '60 results of 8 MiB fault in fewer pages than one result has', 'not glibc', async () => {
  const m = await measure({});
  expect(m.mallocTuning).toMatch(/^glibc: /);
  expect(m.pagesPerResult).toBe(2048);
  expect(m.rounds * m.resultsPerRound).toBe(60);
  // Untuned, the same rounds faulted 27,000-30,000 of the results' 122,880 pages (TORCHREC_MALLOC_TUNING=0,
  // this machine); tuned, 80-590.
  expect(m.faults).toBeLessThan(m.pagesPerResult);
});

test('TORCHREC_MALLOC_TUNING=0 leaves malloc alone, and says so', async () => {
  const m = await measure({ TORCHREC_MALLOC_TUNING: '0' });
  expect(m.mallocTuning).toBe('off (TORCHREC_MALLOC_TUNING=0)');
});

testIf(onGlibc, "glibc's own malloc variables win over the tuning", 'not glibc', async () => {
  const m = await measure({ MALLOC_TRIM_THRESHOLD_: String(128 << 20) });
  expect(m.mallocTuning).toBe('off (glibc malloc variables set by the user)');
});
