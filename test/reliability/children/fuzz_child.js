/**
 * Child of fuzz.test.ts: runs test/helpers/fuzz.ts outside the test runner, so that a hard crash
 * (abort, segfault) shows as the exit signal of this process. argv: seed, cases. Prints the report.
 */
'use strict';
const { fuzz } = require('../../helpers/fuzz.ts');

fuzz(Number(process.argv[2]), Number(process.argv[3])).then(
  (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
