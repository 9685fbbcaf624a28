/**
 * A/B of issue 19's per-call fixed costs at S (4 tables x 10k rows x D=16 fp32, B=32, L=4): a baseline
 * build and this one, alternated child by child for several rounds in one run, so both see the same
 * neighbours. Each child times 150 runs of back-to-back calls and reports the median and the 10th
 * percentile per call (on a shared, loaded machine the low percentile is what preemption leaves alone).
 *
 *   node bench/fixed_cost_ab.js --rounds 3 \
 *     --base-addon A.node --base-lib DIR/dist --base-bench torchrec_bench \
 *     --new-addon build/Release/torchrec_node.node --new-lib dist --new-bench build-bench/bench/torchrec_bench
 *
 * Rows: the C++ kernel and core (torchrec_bench --impl kernel|core), forwardSync and async forward from JS.
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// prettier-ignore
const T = 4, N = 10000, D = 16, B = 32, L = 4;

function child(libDir, mode) {
  const { EmbeddingBagCollection, KeyedJaggedTensor } = require(path.resolve(libDir));
  const tables = Array.from({ length: T }, (_, t) => ({
    name: `t${t}`,
    num_embeddings: N,
    embedding_dim: D,
    feature_names: [`f${t}`],
  }));
  const ebc = new EmbeddingBagCollection({ tables, seed: 1 });
  const keys = tables.map((t) => t.feature_names[0]);
  const kjts = Array.from({ length: 8 }, (_, k) => {
    const v = new BigInt64Array(T * B * L);
    for (let i = 0; i < v.length; i++) v[i] = BigInt((i * 7919 + k * 31) % N);
    return KeyedJaggedTensor.fromLengths({ keys, values: v, lengths: new Int32Array(T * B).fill(L) });
  });
  const calls = mode === 'async' ? 200 : 500;
  const call = mode === 'async' ? (i) => ebc.forward(kjts[i & 7]) : (i) => ebc.forwardSync(kjts[i & 7]);
  (async () => {
    let i = 0;
    for (let w = 0; w < 20 * calls; w++) await call(i++);
    const runs = [];
    for (let r = 0; r < 150; r++) {
      const t0 = process.hrtime.bigint();
      if (mode === 'async') for (let c = 0; c < calls; c++) await call(i++);
      else for (let c = 0; c < calls; c++) call(i++);
      runs.push(Number(process.hrtime.bigint() - t0) / 1e6 / calls);
    }
    process.stdout.write(JSON.stringify({ runs_ms: runs }) + '\n');
  })();
}

function summary(runs) {
  const s = [...runs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] * 1000, p10: s[Math.floor(s.length / 10)] * 1000 };
}

function main() {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  if (opt('child')) return child(opt('lib'), opt('child'));
  const rounds = Number(opt('rounds', 3));
  const builds = ['base', 'new'].map((name) => ({
    name,
    addon: path.resolve(opt(`${name}-addon`)),
    lib: path.resolve(opt(`${name}-lib`)),
    bench: path.resolve(opt(`${name}-bench`)),
  }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixed-cost-'));
  const files = [];
  for (let k = 0; k < 8; k++) {
    const ids = new BigInt64Array(T * B * L);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt((Math.imul(i + 1, 2654435761 + k) >>> 0) % N);
    files.push(path.join(dir, `s${k}.bin`));
    fs.writeFileSync(files[k], new Uint8Array(ids.buffer));
  }
  const cpp = ['--tables', T, '--rows', N, '--dim', D, '--dtype', 'fp32', '--batch', B, '--pooling', L].map(String);
  cpp.push('--variant', `s=${files.join(',')}`, '--warmup', '20', '--runs', '150', '--calls', '500');
  const pooled = {};
  const isa = {};
  for (let r = 0; r < rounds; r++) {
    for (const row of ['kernel', 'core', 'forwardSync', 'async']) {
      for (const b of builds) {
        const out =
          row === 'kernel' || row === 'core'
            ? spawnSync(b.bench, ['--impl', row, ...cpp], { encoding: 'utf8' })
            : spawnSync(
                process.execPath,
                [process.argv[1], '--child', row === 'async' ? 'async' : 'sync', '--lib', b.lib],
                {
                  encoding: 'utf8',
                  env: { ...process.env, TORCHREC_NODE_ADDON: b.addon },
                },
              );
        if (out.status !== 0) throw new Error(`${b.name} ${row} failed: ${out.stderr}`);
        const result = JSON.parse(out.stdout.trim().split('\n').pop());
        if (result.isa) isa[b.name] = result.isa;
        const runs = result.variants ? result.variants.s.runs_ms : result.runs_ms;
        (pooled[`${row}/${b.name}`] ??= []).push(...runs);
      }
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const cell = (row, b) => summary(pooled[`${row}/${b}`]);
  console.log(
    `S, ${rounds} interleaved rounds x 150 runs per build; load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(`forward kernel path: base ${isa.base ?? '?'}, new ${isa.new ?? '?'}`);
  console.log('row           base median / p10 (us)   new median / p10 (us)   new/base (median, p10)');
  for (const row of ['kernel', 'core', 'forwardSync', 'async']) {
    const a = cell(row, 'base');
    const b = cell(row, 'new');
    console.log(
      `${row.padEnd(12)}  ${a.median.toFixed(2).padStart(8)} / ${a.p10.toFixed(2).padStart(6)}        ` +
        `${b.median.toFixed(2).padStart(8)} / ${b.p10.toFixed(2).padStart(6)}        ` +
        `${(b.median / a.median).toFixed(2)}x, ${(b.p10 / a.p10).toFixed(2)}x`,
    );
  }
  for (const b of ['base', 'new']) {
    const core = cell('core', b);
    const kernel = cell('kernel', b);
    console.log(
      `${b}: core - kernel = ${(core.median - kernel.median).toFixed(2)} us (median), ${(core.p10 - kernel.p10).toFixed(2)} us (p10)`,
    );
  }
}

main();
