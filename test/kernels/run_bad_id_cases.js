/**
 * Child process for find_out_of_range.test.ts: runs MANY_BAG_CASES under this process's environment
 * (TORCHREC_CPU_KERNEL=portable, read once at load) and prints forwardSync's {code, message} per case,
 * then the problems randomBadIdProblems finds.
 */
'use strict';
require('../helpers/ts_register.js');
const { MANY_BAG_CASES, RANDOM_BAD_ID_SEEDS, manyBagMessages, randomBadIdProblems } = require('./bad_id_cases.ts');

(async () => ({
  many: await manyBagMessages(MANY_BAG_CASES),
  randomProblems: await randomBadIdProblems(RANDOM_BAD_ID_SEEDS),
}))()
  .then((out) => process.stdout.write(JSON.stringify(out) + '\n'))
  .catch((e) => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
    process.exit(1);
  });
