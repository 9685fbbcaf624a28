/**
 * PyTorch's own launcher starts our ranks: `torchrun --no_python --nproc_per_node 2 node script.js`
 * (Debian's torch 1.13 torchrun, through a shim that fixes its Python 3.11 start-up crash: see
 * python/torchrun.py). With its static rendezvous the agent serves the store and every rank joins as a
 * store client (TORCHELASTIC_USE_AGENT_STORE=True); with --standalone rank 0 serves it.
 */
import * as path from 'path';
import { describePython, PYTHON } from '../checkpoint/helpers';
import { cleanEnv, freePort } from './helpers';
import { startNode } from '../helpers/reliability';

const SHIM = path.join(__dirname, 'python', 'torchrun.py');
const CHILD = path.join(__dirname, 'children', 'torchrun_child.js');

describePython('torchrun --no_python', () => {
  it.each([
    ['static rendezvous on a free port: the agent serves the store', 'True'],
    ['--standalone: rank 0 serves the store', 'False'],
  ])(
    '%s; 2 ranks reduce and shard a table as one process draws it',
    async (how, agentStore) => {
      const rendezvous = agentStore === 'True' ? ['--master_port', String(await freePort())] : ['--standalone'];
      const argv = [...rendezvous, '--no_python', '--nproc_per_node', '2', process.execPath, CHILD];
      // startNode runs process.execPath: run the Python launcher through a tiny node wrapper instead.
      const run = startNode(
        [
          '-e',
          `require('child_process').spawn(${JSON.stringify(PYTHON)}, ${JSON.stringify([SHIM, ...argv])}, { stdio: 'inherit' }).on('exit', (c) => process.exit(c ?? 1))`,
        ],
        cleanEnv(),
        90_000,
      );
      const r = await run.done;
      expect(r.code).toBe(0);
      const lines = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { rank: number });
      expect(lines.sort((a, b) => a.rank - b.rank)).toEqual([
        { rank: 0, worldSize: 2, sum: 3, same: true, agentStore },
        { rank: 1, worldSize: 2, sum: 3, same: true, agentStore },
      ]);
    },
    120_000,
  );
});
