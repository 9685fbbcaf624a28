/**
 * Child process for pooled_lookup_random.test.ts: runs the random cases under this process's
 * environment (e.g. TORCHREC_CPU_KERNEL=portable, TORCHREC_PREFETCH_ROWS=n, which the kernel reads once
 * at load) and prints {cases, problems} as JSON. Usage: node run_random_cases.js <threads>
 */
'use strict';
require('../helpers/ts_register.js');
const { setNumThreads } = require('../../lib');
const { BIG_SEEDS, SMALL_SEEDS, checkCase, randomCase } = require('./pooled_lookup_reference.ts');

(async () => {
  const threads = Number(process.argv[2] || 0);
  if (threads > 0) setNumThreads(threads);
  const problems = [];
  let cases = 0;
  for (const seed of SMALL_SEEDS) {
    problems.push(...(await checkCase(randomCase(seed), seed)));
    cases++;
  }
  for (const seed of BIG_SEEDS) {
    problems.push(...(await checkCase(randomCase(seed, true), seed)));
    cases++;
  }
  process.stdout.write(JSON.stringify({ cases, problems }) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
