/**
 * Big results reuse warm memory: with the addon's glibc malloc tuning, a loop of forwards whose results
 * are 8 MiB each faults in almost none of their pages (glibc's defaults return freed blocks to the
 * kernel, so results fault their pages in again: 2-16% of them in this child, ~45% at bench size M). The tuning steps aside when asked to or
 * when the user set glibc's own malloc variables.
 */
import { lastJson, runChild } from '../helpers/reliability';

interface Faults {
  mallocTuning: string;
  calls: number;
  pagesPerResult: number;
  faults: number;
}

async function measure(env: Record<string, string>): Promise<Faults> {
  const r = await runChild('result_faults.js', ['60'], { env, timeoutMs: 60000 });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  return lastJson<Faults>(r);
}

function glibcVersion(): string | undefined {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime;
}

const onGlibc = glibcVersion() !== undefined;

(onGlibc ? test : test.skip)(
  '60 results of 8 MiB fault in fewer pages than half of one result has, once warm (glibc)',
  async () => {
    const m = await measure({});
    expect(m.mallocTuning).toMatch(/^glibc: /);
    expect(m.pagesPerResult).toBe(2048);
    // Untuned, the same loop faulted 2,500-20,000 pages (TORCHREC_MALLOC_TUNING=0, this machine); tuned,
    // ~540: a part of one result, when the heap grows to a new high-water mark.
    expect(m.faults).toBeLessThan(m.pagesPerResult / 2);
  },
);

test('TORCHREC_MALLOC_TUNING=0 leaves malloc alone, and says so', async () => {
  const m = await measure({ TORCHREC_MALLOC_TUNING: '0' });
  expect(m.mallocTuning).toBe('off (TORCHREC_MALLOC_TUNING=0)');
});

(onGlibc ? test : test.skip)("glibc's own malloc variables win over the tuning", async () => {
  const m = await measure({ MALLOC_TRIM_THRESHOLD_: String(128 << 20) });
  expect(m.mallocTuning).toBe('off (glibc malloc variables set by the user)');
});
