/**
 * One rank started by torchrun (test/distributed/torchrun.test.ts): joins the group from torchrun's
 * environment alone (agent store: every rank a store client), checks an allreduce and that a row-wise
 * sharded table starts as the one-process table, and prints one JSON line.
 */
'use strict';
require('../../helpers/ts_register.js');
const { ProcessGroup } = require('../../../lib/distributed/process_group.ts');
const { EmbeddingBagCollection } = require('../../../lib/ebc.ts');

async function main() {
  const pg = await ProcessGroup.init({ timeoutMs: 20000 });
  const sum = (await pg.allreduce(Float32Array.of(pg.rank + 1)))[0];
  const tables = [{ name: 't', num_embeddings: 11, embedding_dim: 4, feature_names: ['f'] }];
  const sharded = new EmbeddingBagCollection({ tables, seed: 5, processGroup: pg, plan: { t: 'row_wise' } });
  const whole = new EmbeddingBagCollection({ tables, seed: 5 });
  const got = await sharded.getWeights('t');
  const want = whole.getWeights('t');
  const same = got.length === want.length && got.every((x, i) => Object.is(x, want[i]));
  const env = process.env;
  process.stdout.write(
    `${JSON.stringify({ rank: pg.rank, worldSize: pg.worldSize, sum, same, agentStore: env.TORCHELASTIC_USE_AGENT_STORE })}\n`,
  );
  sharded.dispose();
  whole.dispose();
  pg.destroy();
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
  process.exit(1);
});
