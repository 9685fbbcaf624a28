/**
 * Child process for quantized_kernels.test.ts: runs the random quantized pooling cases under this
 * process's environment (TORCHREC_CPU_KERNEL=portable is read once, at load) and thread count, and
 * prints {small, big, mixed} (hex of each output's float32 bits) as JSON. Usage: node run_kernel_cases.js <threads>
 */
'use strict';
require('../helpers/ts_register.js');
const { setNumThreads } = require('../../lib');
const {
  BIG_KERNEL_SEEDS,
  KERNEL_SEEDS,
  MIXED_SEEDS,
  caseOutputs,
  mixedCaseOutput,
} = require('./quantized_reference.ts');

(async () => {
  const threads = Number(process.argv[2] || 0);
  if (threads > 0) setNumThreads(threads);
  const small = await caseOutputs(KERNEL_SEEDS, false);
  const big = await caseOutputs(BIG_KERNEL_SEEDS, true);
  const mixed = [];
  for (const seed of MIXED_SEEDS) mixed.push(await mixedCaseOutput(seed));
  process.stdout.write(JSON.stringify({ small, big, mixed }) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
