/**
 * Managed ids at the performance protocol's M shape (8 tables x 1,000,000 rows x D=64, B=4096, L=20,
 * fp32): the forward with managed ids against the same forward with plain row ids, once the map holds
 * 1M residents per table (1M - 1 rows + the default row). The remap is the difference of the two
 * medians; its throughput is the ids of a batch (B*L*T) over that difference. EVALUATE forwards
 * remap by lookup only (serving; also what backward does); TRAIN forwards also count every occurrence
 * and run as writers. Then the same in C++ without Node, each managed forward alternated call by call
 * with the plain one in one process (torchrec_bench --impl managed+kernel | managed-train+core), whose
 * ratios hold when the machine's speed moves between processes, and the lookups alone (--impl lookup).
 * Writes bench/results/managed-ids-latest.md (bench/results/managed-ids.md keeps the annotated history;
 * MC_WRITE=0: print only). Run: npm run bench:managed-ids (builds the C++ bench binary first)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EmbeddingBagCollection, KeyedJaggedTensor, Mode, getNumThreads } from '../lib';
import { BENCH_BIN } from './common';

const T = Number(process.env.MC_TABLES ?? 8);
const N = Number(process.env.MC_ROWS ?? 1_000_000);
const D = 64;
const B = 4096;
const L = 20;
const REPS = Number(process.env.MC_REPS ?? 15);
// MC_CLOCK=cpu: time each forward by the process's CPU time (all threads) instead of the wall clock,
// for A/B runs on a loaded machine, where wall time mostly measures the other processes.
const CPU_CLOCK = process.env.MC_CLOCK === 'cpu';

function now(): number {
  if (!CPU_CLOCK) return Number(process.hrtime.bigint()) / 1e6;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

/** splitmix64: the raw 64-bit id of entity k (hashed, as a real id would be). */
function rawId(k: bigint): bigint {
  let z = BigInt.asUintN(64, k + 0x9e3779b97f4a7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return BigInt.asIntN(64, z ^ (z >> 31n));
}

function make(managed: boolean): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: Array.from({ length: T }, (_, t) => ({
      name: `t${t}`,
      num_embeddings: N,
      embedding_dim: D,
      feature_names: [`f${t}`],
      ...(managed ? { managed_collision: { eviction_policy: 'lfu', eviction_interval: 1_000_000 } } : {}),
    })),
    seed: 1,
  });
}

/** Entity k -> its row in the plain table (k) and its raw id in the managed one; uniform entities. */
function batches(count: number, seed: number): { plain: KeyedJaggedTensor; raw: KeyedJaggedTensor }[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const keys = Array.from({ length: T }, (_, t) => `f${t}`);
  const lengths = new Int32Array(T * B).fill(L);
  const out = [];
  for (let i = 0; i < count; i++) {
    const plain = new BigInt64Array(T * B * L);
    const raw = new BigInt64Array(T * B * L);
    for (let j = 0; j < plain.length; j++) {
      const k = Math.floor(next() * (N - 1));
      plain[j] = BigInt(k);
      raw[j] = rawId(BigInt(k));
    }
    out.push({
      plain: KeyedJaggedTensor.fromLengths({ keys, values: plain, lengths }),
      raw: KeyedJaggedTensor.fromLengths({ keys, values: raw, lengths }),
    });
  }
  return out;
}

/**
 * The paired C++ rows on the same entities (key-major int64 id files of `plain` batches): per impl, the
 * managed forward's median ms, the plain one's, and the median of the runs' managed/plain ratios.
 */
function pairedRows(data: { plain: KeyedJaggedTensor }[]): { lines: string[]; lookupMs?: number } {
  if (!fs.existsSync(BENCH_BIN)) {
    return { lines: [`(C++ rows skipped: ${BENCH_BIN} is missing; run npm run bench:build)`] };
  }
  let lookupMs: number | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchrec-managed-bench-'));
  const files = data.map((d, k) => {
    const file = path.join(dir, `ids_${k}.bin`);
    fs.writeFileSync(file, new Uint8Array(BigInt64Array.from(d.plain.values() as BigInt64Array).buffer));
    return file;
  });
  const out: string[] = [];
  try {
    const shape = ['--tables', `${T}`, '--rows', `${N}`, '--dim', `${D}`, '--dtype', 'fp32', '--batch', `${B}`];
    for (const [impl, what] of [
      ['managed+kernel', 'EVALUATE: the fused kernel with lookups / the plain kernel'],
      ['managed-train+core', 'TRAIN: the core forward admitting and counting / the plain core forward'],
      ['lookup', 'the lookups alone'],
    ] as const) {
      const args = [
        ...shape,
        '--pooling',
        `${L}`,
        '--impl',
        impl,
        '--runs',
        `${REPS}`,
        '--variant',
        `uniform=${files}`,
      ];
      const r = spawnSync(BENCH_BIN, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) {
        out.push(`| ${what} | failed: ${(r.stderr ?? '').trim().slice(0, 200)} | | |`);
        continue;
      }
      const v = JSON.parse(r.stdout.trim().split('\n').pop() as string).variants.uniform;
      if (impl === 'lookup') {
        lookupMs = v.median_ms;
        out.push(
          `| ${what} | ${v.median_ms.toFixed(2)} | | ${((T * B * L) / (v.median_ms / 1e3) / 1e6).toFixed(1)}M ids/s |`,
        );
      } else {
        const remap = 1 / v.partner_over_impl_median - 1;
        out.push(
          `| ${what} | ${v.median_ms.toFixed(2)} | ${v.partner_median_ms.toFixed(2)} | ${(100 * remap).toFixed(0)}% |`,
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { lines: out, lookupMs };
}

/**
 * TorchRec's remap of the same batches (bench/python_mch_remap.py: searchsorted over the sorted
 * residents, on this machine's PyTorch), beside torchrec-node's lookups alone; its rows must be the
 * plain batches' row ids (entity k holds row k), checked by sum.
 */
function torchrecRemapRow(data: { plain: KeyedJaggedTensor; raw: KeyedJaggedTensor }[], lookupMs?: number): string {
  const python = process.env.TORCHREC_BENCH_PYTHON ?? '/usr/bin/python3';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchrec-mch-bench-'));
  try {
    const residents = new BigInt64Array(N - 1);
    for (let k = 0; k < N - 1; k++) residents[k] = rawId(BigInt(k));
    const residentsFile = path.join(dir, 'residents.bin');
    fs.writeFileSync(residentsFile, new Uint8Array(residents.buffer));
    const batches = data.map((d, k) => {
      const file = path.join(dir, `raw_${k}.bin`);
      fs.writeFileSync(file, new Uint8Array((d.raw.values() as BigInt64Array).buffer));
      return file;
    });
    const job = { residents: residentsFile, batches, tables: T, reps: REPS, threads: os.cpus().length };
    const r = spawnSync(python, [path.join(__dirname, 'python_mch_remap.py'), JSON.stringify(job)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) return `| TorchRec's remap (searchsorted) | failed: ${(r.stderr ?? '').trim().slice(-200)} | |`;
    const v = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    let want = 0n;
    for (let k = 0; k < REPS; k++) for (const x of data[k % data.length].plain.values() as BigInt64Array) want += x;
    const checked = BigInt(v.rows_checksum) === want ? '' : ' (rows differ from the plain ids: not comparable)';
    const vs = lookupMs ? `${(v.median_ms / lookupMs).toFixed(1)}x` : '';
    return `| TorchRec's remap: searchsorted over sorted residents (PyTorch ${v.torch}, ${v.threads} threads)${checked} | ${v.median_ms.toFixed(2)} | ${vs} |`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Medians of the variants measured round-robin (one forward of each per round), so that drift on a
 * shared machine and the allocator's warm-up hit every variant alike instead of whichever runs first.
 */
async function interleavedMedians(variants: (() => Promise<unknown>)[]): Promise<number[]> {
  for (const v of variants) await v();
  const times: number[][] = variants.map(() => []);
  for (let i = 0; i < REPS; i++) {
    for (const [k, v] of variants.entries()) {
      const t0 = now();
      await v();
      times[k].push(now() - t0);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

async function main(): Promise<void> {
  const managed = make(true);
  // Fill every table's map: entities 0..N-2 in order, so entity k takes row k (the default row is N-1).
  const keys = Array.from({ length: T }, (_, t) => `f${t}`);
  const chunk = 200_000;
  const fillStart = process.hrtime.bigint();
  for (let k0 = 0; k0 < N - 1; k0 += chunk) {
    const n = Math.min(chunk, N - 1 - k0);
    const one = new BigInt64Array(n);
    for (let j = 0; j < n; j++) one[j] = rawId(BigInt(k0 + j));
    const values = new BigInt64Array(T * n);
    for (let t = 0; t < T; t++) values.set(one, t * n);
    const lengths = new Int32Array(T * n).fill(1);
    managed.forwardSync(KeyedJaggedTensor.fromLengths({ keys, values, lengths }));
  }
  const fillMs = Number(process.hrtime.bigint() - fillStart) / 1e6;
  const stats = managed.managedIdStats();
  const residents = stats.t0.residents;
  const plain = make(false);
  const data = batches(4, 7);
  let call = 0;
  const pick = () => data[call++ % data.length];
  const inMode = (mode: Mode) => () => {
    managed.setMode(mode);
    return managed.forward(pick().raw);
  };
  const [plainEval, managedEval, managedTrain] = await interleavedMedians([
    () => plain.forward(pick().plain),
    inMode(Mode.EVALUATE),
    inMode(Mode.TRAIN),
  ]);
  const after = managed.managedIdStats().t0;
  // Freed before the C++ rows run, so their tables do not compete with these for memory and huge pages.
  managed.dispose();
  plain.dispose();
  const ids = T * B * L;
  const rows = [
    ['forward, plain row ids', plainEval, '', ''],
    [
      'forward, managed ids (EVALUATE: lookup)',
      managedEval,
      managedEval - plainEval,
      ids / ((managedEval - plainEval) / 1e3),
    ],
    [
      'forward, managed ids (TRAIN: lookup + count)',
      managedTrain,
      managedTrain - plainEval,
      ids / ((managedTrain - plainEval) / 1e3),
    ],
  ] as const;
  const paired = pairedRows(data);
  const fmt = (x: number | string) => (typeof x === 'number' ? x.toFixed(1) : x);
  const lines = [
    '# Managed ids: remap cost at M',
    '',
    `${T} tables x ${N.toLocaleString('en')} rows x D=${D}, fp32, B=${B}, L=${L} (${ids.toLocaleString('en')} ids a batch), ` +
      `uniform entities; ${residents.toLocaleString('en')} residents per table (filled in ${(fillMs / 1e3).toFixed(1)} s). ` +
      `${os.cpus().length} cores, ${getNumThreads()} intra-op threads, median of ${REPS} awaited forwards of each kind${CPU_CLOCK ? ' (CPU time of all threads, MC_CLOCK=cpu)' : ''}, measured round-robin. ` +
      `${os.cpus()[0]?.model ?? ''}, ${new Date().toISOString()}.`,
    '',
    '| forward | median ms | remap ms (vs plain) | remap ids/s | remap / plain forward |',
    '|---|---|---|---|---|',
    ...rows.map(
      ([name, ms, remap, rate]) =>
        `| ${name} | ${fmt(ms)} | ${fmt(remap)} | ${typeof rate === 'number' ? (rate / 1e6).toFixed(1) + 'M' : ''} | ${typeof remap === 'number' ? ((100 * remap) / plainEval).toFixed(0) + '%' : ''} |`,
    ),
    '',
    `After the TRAIN forwards: ${after.defaultRowHits} default-row hits (entities are all resident), ${after.waiting} waiting.`,
    '',
    'The same in C++ without Node (torchrec_bench; same entities, maps and residents): each managed forward',
    "alternated call by call with the plain one in one process, remap as the median of the runs' managed/plain − 1.",
    '',
    '| C++, one process | managed ms | plain ms | remap / plain (lookups: ids/s) |',
    '|---|---|---|---|',
    ...paired.lines,
    '',
    "The remap alone, TorchRec's way and ours, on the same batches (one batch, every table):",
    '',
    "| remap | median ms | vs torchrec-node's lookups alone |",
    '|---|---|---|',
    `| torchrec-node: the lookups alone (above) | ${paired.lookupMs?.toFixed(2) ?? '—'} | 1.0x |`,
    torchrecRemapRow(data, paired.lookupMs),
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(text);
  if (process.env.MC_WRITE !== '0') {
    fs.writeFileSync(path.join(__dirname, 'results', 'managed-ids-latest.md'), text);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
