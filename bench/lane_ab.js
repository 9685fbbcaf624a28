/**
 * A/B of the default async forward at S (4 tables x 10k rows x D=16 fp32, B=32, L=4; issue 19): a
 * baseline build and this one, alternated child by child for several rounds in one run, so both see
 * the same neighbours. Each child times 100 runs of 200 sequential `await ebc.forward(kjt)` and
 * reports the per-call median and 10th percentile, and the process CPU time per call (the lane's
 * spinning shows there).
 *
 *   node bench/lane_ab.js --rounds 5 --base-addon A.node --base-lib DIR/dist \
 *     --new-addon build/Release/torchrec_node.node --new-lib dist [--inline]
 *
 * --inline: the children use inlineSmallForwards: true (the opt-in path), for reference.
 */
'use strict';
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

// prettier-ignore
const T = 4, N = 10000, D = 16, B = 32, L = 4;
const RUNS = 100;
const CALLS = 200;

function child(libDir, inline) {
  const { EmbeddingBagCollection, KeyedJaggedTensor } = require(path.resolve(libDir));
  const tables = Array.from({ length: T }, (_, t) => ({
    name: `t${t}`,
    num_embeddings: N,
    embedding_dim: D,
    feature_names: [`f${t}`],
  }));
  const ebc = new EmbeddingBagCollection({ tables, seed: 1, ...(inline ? { inlineSmallForwards: true } : {}) });
  const keys = tables.map((t) => t.feature_names[0]);
  const kjts = Array.from({ length: 8 }, (_, k) => {
    const v = new BigInt64Array(T * B * L);
    for (let i = 0; i < v.length; i++) v[i] = BigInt((i * 7919 + k * 31) % N);
    return KeyedJaggedTensor.fromLengths({ keys, values: v, lengths: new Int32Array(T * B).fill(L) });
  });
  (async () => {
    let i = 0;
    for (let w = 0; w < 10 * CALLS; w++) await ebc.forward(kjts[i++ & 7]);
    const runs = [];
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < RUNS; r++) {
      const t = process.hrtime.bigint();
      for (let c = 0; c < CALLS; c++) await ebc.forward(kjts[i++ & 7]);
      runs.push(Number(process.hrtime.bigint() - t) / 1e3 / CALLS);
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e3;
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(JSON.stringify({ runs_us: runs, cpu_per_wall: (cpu.user + cpu.system) / wall }) + '\n');
  })();
}

function main() {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const inline = args.includes('--inline');
  if (opt('child')) return child(opt('child'), inline);
  const rounds = Number(opt('rounds', 5));
  const builds = ['base', 'new'].map((name) => ({
    name,
    addon: path.resolve(opt(`${name}-addon`)),
    lib: path.resolve(opt(`${name}-lib`)),
  }));
  const runs = { base: [], new: [] };
  const cpu = { base: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 ? [...builds].reverse() : builds) {
      const out = spawnSync(process.execPath, [process.argv[1], '--child', b.lib, ...(inline ? ['--inline'] : [])], {
        encoding: 'utf8',
        env: { ...process.env, TORCHREC_NODE_ADDON: b.addon },
      });
      if (out.status !== 0) throw new Error(`${b.name} failed: ${out.stderr}`);
      const result = JSON.parse(out.stdout.trim().split('\n').pop());
      runs[b.name].push(...result.runs_us);
      cpu[b.name].push(result.cpu_per_wall);
    }
  }
  const at = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)];
  const load = os.loadavg().map((x) => x.toFixed(1));
  console.log(`S async forward${inline ? ' (inlineSmallForwards)' : ''}, ${rounds} interleaved rounds; load ${load}`);
  console.log('build  median us/call  p10 us/call  CPU s per wall s (median)');
  for (const name of ['base', 'new']) {
    console.log(
      `${name.padEnd(5)}  ${at(runs[name], 0.5).toFixed(2).padStart(14)}  ${at(runs[name], 0.1).toFixed(2).padStart(11)}` +
        `  ${at(cpu[name], 0.5).toFixed(2).padStart(10)}`,
    );
  }
  const ratio = (q) => (at(runs.new, q) / at(runs.base, q)).toFixed(2);
  console.log(`new/base: median ${ratio(0.5)}x, p10 ${ratio(0.1)}x`);
}

main();
