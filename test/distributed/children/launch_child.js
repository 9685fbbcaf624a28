/** A rank under torchrec-node-run in test/distributed/launcher.test.ts: `node launch_child.js <mode>`. */
'use strict';
const fs = require('fs');
const path = require('path');
const { setInterval, clearInterval } = require('timers');

const mode = process.argv[2];
const rank = Number(process.env.RANK);
const keepAlive = () => setInterval(() => {}, 1000);
const vars = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'GROUP_RANK'];

process.stdout.write(`pid ${process.pid}\n`);
if (mode === 'print') {
  process.stdout.write(`${JSON.stringify(Object.fromEntries(vars.map((k) => [k, process.env[k]])))}\n`);
  process.stdout.write(`args ${JSON.stringify(process.argv.slice(3))}\n`);
  process.stderr.write('to stderr\nno newline at the end');
} else if (mode === 'fail' || mode === 'stubborn') {
  // Rank 1 fails once every other rank has started (each leaves a file in the directory argv[3]).
  const dir = process.argv[3];
  const world = Number(process.env.WORLD_SIZE);
  if (mode === 'stubborn') process.on('SIGTERM', () => process.stdout.write('ignoring SIGTERM\n'));
  if (rank !== 1) {
    fs.writeFileSync(path.join(dir, `ready.${rank}`), '');
    keepAlive();
  } else {
    const othersReady = () => fs.readdirSync(dir).filter((f) => f.startsWith('ready.')).length === world - 1;
    const poll = setInterval(() => {
      if (!othersReady()) return;
      clearInterval(poll);
      process.exit(3);
    }, 20);
  }
} else if (mode === 'wait') {
  keepAlive();
} else if (mode === 'slow-stop') {
  // A rank whose clean stop takes longer than any deadline (a big final snapshot on a busy machine).
  process.on('SIGTERM', () => process.stdout.write('ignoring SIGTERM\n'));
  keepAlive();
}
