#!/usr/bin/env node
/**
 * torchrec-node-run: torchrun for Node scripts. Starts --nproc-per-node copies of `node script.js
 * args` with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT, GROUP_RANK), so ProcessGroup.init() needs no options; prefixes each line the ranks
 * print with "[rank r] "; when one rank fails, stops the others (SIGTERM, then SIGKILL after a grace)
 * and exits non-zero naming it; forwards SIGINT/SIGTERM to the ranks and exits only once they are
 * gone (a forwarded signal asks for a clean stop, which may take a final snapshot, so no deadline
 * applies; a second signal kills every rank at once, as a second Ctrl-C does under torchrun). Plain JavaScript with no dependencies (node's own modules), so it runs before any build.
 */
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const readline = require('readline');
const { setTimeout, clearTimeout } = require('timers');

const USAGE = `usage: torchrec-node-run --nproc-per-node N [--nnodes M --node-rank I --master-addr HOST --master-port PORT]
                         [--kill-grace-ms MS] script.js [script args...]

  --nproc-per-node N   ranks to start on this machine (required)
  --nnodes M           machines in the job (default 1); start the launcher once on each
  --node-rank I        this machine's index in [0, M) (default 0)
  --master-addr HOST   where rank 0 serves the store (default 127.0.0.1)
  --master-port PORT   its port (default: a free port when --nnodes is 1; required otherwise)
  --kill-grace-ms MS   after a rank fails, how long the others get between SIGTERM and SIGKILL (default 5000)
SIGINT/SIGTERM are passed on to every rank, which may take as long as it needs to stop cleanly; a second
SIGINT/SIGTERM kills them all. torchrun's spellings with underscores (--nproc_per_node=2) are accepted too.`;

const FLAGS = {
  'nproc-per-node': 'nprocPerNode',
  nnodes: 'nnodes',
  'node-rank': 'nodeRank',
  'master-addr': 'masterAddr',
  'master-port': 'masterPort',
  'kill-grace-ms': 'killGraceMs',
};

class UsageError extends Error {}

/** The launcher's own flags, up to the script; everything after the script belongs to it. */
function parseArgs(argv) {
  const o = { nnodes: '1', nodeRank: '0', masterAddr: '127.0.0.1', killGraceMs: '5000' };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') return { help: true };
    if (!arg.startsWith('--')) break;
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq).replace(/_/g, '-');
    const key = FLAGS[name];
    if (key === undefined) throw new UsageError(`unknown option ${arg}`);
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    o[key] = value;
  }
  if (o.nprocPerNode === undefined) throw new UsageError('--nproc-per-node is required');
  if (i >= argv.length) throw new UsageError('no script given');
  const int = (key, flag, min) => {
    const n = /^\d+$/.test(o[key] ?? '') ? Number(o[key]) : NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new UsageError(`--${flag} must be an integer >= ${min}, got ${o[key]}`);
    return n;
  };
  const parsed = {
    nprocPerNode: int('nprocPerNode', 'nproc-per-node', 1),
    nnodes: int('nnodes', 'nnodes', 1),
    nodeRank: int('nodeRank', 'node-rank', 0),
    masterAddr: o.masterAddr,
    masterPort: o.masterPort === undefined ? undefined : int('masterPort', 'master-port', 1),
    killGraceMs: int('killGraceMs', 'kill-grace-ms', 0),
    script: argv[i],
    scriptArgs: argv.slice(i + 1),
  };
  if (parsed.nodeRank >= parsed.nnodes) throw new UsageError(`--node-rank must be below --nnodes (${parsed.nnodes})`);
  if (parsed.masterPort !== undefined && parsed.masterPort > 65535)
    throw new UsageError('--master-port must be <= 65535');
  if (parsed.masterPort === undefined && parsed.nnodes > 1) {
    throw new UsageError('--master-port is required with --nnodes > 1 (every machine must use the same one)');
  }
  return parsed;
}

/** A port nothing listens on right now (the system's pick), as torchrun does for a single node. */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Copies `stream` to `out` line by line, each line prefixed. */
function prefixLines(stream, out, prefix) {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => out.write(`${prefix}${line}\n`));
}

function describeExit(code, signal) {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`torchrec-node-run: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const masterPort = o.masterPort ?? (await freePort(o.masterAddr));
  const worldSize = o.nnodes * o.nprocPerNode;
  const ranks = [];
  for (let local = 0; local < o.nprocPerNode; local++) {
    const rank = o.nodeRank * o.nprocPerNode + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(o.nprocPerNode),
      GROUP_RANK: String(o.nodeRank),
      MASTER_ADDR: o.masterAddr,
      MASTER_PORT: String(masterPort),
    };
    const child = spawn(process.execPath, [o.script, ...o.scriptArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry = { rank, child, exited: false, code: null, signal: null };
    prefixLines(child.stdout, process.stdout, `[rank ${rank}] `);
    prefixLines(child.stderr, process.stderr, `[rank ${rank}] `);
    ranks.push(entry);
  }

  let failed = null; // the first rank that failed
  let stopping = null; // the signal the launcher received
  let killTimer = null;
  const killAll = () => {
    for (const r of ranks) if (!r.exited) r.child.kill('SIGKILL');
  };
  // After a rank failed: the others get killGraceMs to exit on SIGTERM.
  const stopOthers = (signal) => {
    for (const r of ranks) if (!r.exited) r.child.kill(signal);
    if (killTimer === null) killTimer = setTimeout(killAll, o.killGraceMs);
  };
  // The user's signal: passed on with no deadline (a clean stop may save a snapshot first, which takes
  // as long as the tables are big and the machine is busy); a second one kills every rank.
  const forward = (signal) => {
    if (stopping !== null) {
      killAll();
      return;
    }
    stopping = signal;
    for (const r of ranks) if (!r.exited) r.child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);

  await new Promise((resolve) => {
    let left = ranks.length;
    for (const r of ranks) {
      const done = (code, signal) => {
        if (r.exited) return;
        r.exited = true;
        r.code = code;
        r.signal = signal;
        if ((code !== 0 || signal) && failed === null && stopping === null) {
          failed = r;
          stopOthers('SIGTERM');
        }
        if (--left === 0) resolve();
      };
      r.child.on('close', done); // after its output is flushed
      r.child.on('error', (e) => {
        process.stderr.write(`torchrec-node-run: rank ${r.rank} could not start: ${e.message}\n`);
        done(127, null);
      });
    }
  });
  if (killTimer !== null) clearTimeout(killTimer);
  if (stopping !== null) {
    process.stderr.write(`torchrec-node-run: stopped by ${stopping}; every rank has exited\n`);
    return 128 + (require('os').constants.signals[stopping] ?? 0);
  }
  if (failed !== null) {
    const pid = failed.child.pid;
    process.stderr.write(
      `torchrec-node-run: rank ${failed.rank} (pid ${pid}) ${describeExit(failed.code, failed.signal)}; ` +
        `the other ranks were stopped\n`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`torchrec-node-run: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  },
);
