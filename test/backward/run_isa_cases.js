/**
 * Child process for backward_isa.test.ts: runs isa_cases.ts's cases under this process's environment
 * (TORCHREC_CPU_KERNEL=portable|avx2|avx512, which the backward reads once, at load) and thread count,
 * and prints {digests} as JSON. Usage: node run_isa_cases.js <threads>
 */
'use strict';
require('../helpers/ts_register.js');
const { setNumThreads } = require('../../lib');
const { ISA_SEEDS, runIsaCase } = require('./isa_cases.ts');

(async () => {
  setNumThreads(Number(process.argv[2]));
  const digests = [];
  for (const seed of ISA_SEEDS) digests.push(await runIsaCase(seed));
  process.stdout.write(JSON.stringify({ digests }) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
