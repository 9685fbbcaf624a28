/**
 * What the scenario children share: `node <child>.js <scenario> <JSON args>`, one JSON line per
 * report, errors as {code, message}, and the run of one scenario on a ProcessGroup built from
 * torchrun's variables (its rank reported with the result; a throw reported as {fatal}).
 */
'use strict';
require('../../helpers/ts_register.js');
const { ProcessGroup } = require('../../../lib/distributed/process_group.ts');

const scenario = process.argv[2];
const args = JSON.parse(process.argv[3] || '{}');
const report = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);
const errorOf = (e) => ({ code: e.code, message: e.message });

/** Runs scenarios[scenario](pg); with args.unsharded no group is made (pg undefined, rank 0). */
function runScenario(scenarios) {
  (async () => {
    let pg;
    try {
      if (!args.unsharded) pg = await ProcessGroup.init({ timeoutMs: args.timeoutMs ?? 10000 });
      const result = await scenarios[scenario](pg);
      report({ rank: pg ? pg.rank : 0, ...result });
    } catch (e) {
      report({ fatal: errorOf(e), stack: e.stack });
    } finally {
      pg?.destroy();
    }
  })();
}

module.exports = { scenario, args, report, errorOf, runScenario };
