/**
 * `npm run bench`: one table comparing, on this machine and in one run, this library's forward
 * (forwardSync and forward) and train step with the TorchRec way in Python, a naive libtorch baseline,
 * a plain-JS loop and the machine's gather ceiling, for DESIGN.md's configurations S, M and H with
 * uniform and skewed (floor(N·u³)) ids. Every implementation runs in its own child process holding only
 * that configuration (so its peak RSS is the configuration's), one after the other, on the same id
 * files. Medians over >= 20 runs after warm-up; ratios, never lone absolute times, are the result.
 *
 *   npm run bench                 # all configurations (builds bench/native first)
 *   npm run bench -- --only S,M   # some of them
 *   npm run bench -- --no-write   # do not update bench/results/
 *
 * Environment: TORCHREC_NODE_ADDON (else build/Release), TORCHREC_BENCH_BIN (else
 * build-bench/bench/torchrec_bench), TORCHREC_BENCH_PYTHON (else /usr/bin/python3).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findAddon } from '../lib/loader';
import { BenchConfig, CONFIGS, ChildResult, Timing, Variants, forwardBytes, measured } from './common';
import { renderMarkdown, renderText, Row } from './report';
import {
  ALLOC_ROW,
  ASYNC_INLINE_ROW,
  ASYNC_OUT_ROW,
  PAIRED_CORE_ROW,
  PAIRED_KERNEL_ROW,
  SYNC_OUT_ROW,
  SYNC_ROW,
} from './targets';

// The lib child's timings besides forwardSync's own (lib_child.ts), pooled over rounds alike.
const LIB_KEYS = ['async', 'asyncInline', 'asyncOut', 'syncOut', 'alloc'] as const;

const ROOT = path.resolve(__dirname, '..');
const BENCH_BIN = process.env.TORCHREC_BENCH_BIN ?? path.join(ROOT, 'build-bench', 'bench', 'torchrec_bench');
const PYTHON = process.env.TORCHREC_BENCH_PYTHON ?? '/usr/bin/python3';
const RESULTS = path.join(__dirname, 'results');
// Children run plain JavaScript transpiled here, not ts-node: a TypeScript compiler in the measured
// process would add ~100 MB to its heap, which every major GC then marks (that cost 40% of a core at
// M). Inside the repository so that node_modules resolves.
const CHILD_JS = path.join(ROOT, 'build-bench', 'js');

/** Runs per implementation and configuration: at least 20 timed runs each, after warm-up. */
interface Plan {
  batches: number;
  rounds: number; // the children run this many times, one after the other; their runs are pooled
  lib: Timing;
  libAsync: Timing;
  python: Timing;
  naive: Timing;
  ceiling: Timing;
  js: Timing;
  cppCore?: Timing;
  train?: Timing;
  cppTrain?: Timing;
  /** The C++ train step's backward + optimizer alone (torchrec_bench --impl backward). */
  cppBackward?: Timing;
  pythonTrain?: Timing;
}

// Tables allocated moments before are slow for their first passes on this VM: in torchrec_bench the
// first ~8 M calls after setup ran 4-7x slower than the rest (34-43 ms against 5-9 ms for the C++
// core, the same with older binaries), until every page had been read once. So every M and H row
// warms up over more calls than that before its runs count.
const WARM_M = 10;
/** M and H rows: one call per run. */
const ONE_CALL = { warmup: WARM_M, runs: 20, calls: 1 };
const FORWARD_ROWS = {
  lib: ONE_CALL,
  libAsync: ONE_CALL,
  python: ONE_CALL,
  naive: ONE_CALL,
  ceiling: ONE_CALL,
  js: ONE_CALL,
  cppCore: ONE_CALL,
};

const PLANS: Record<string, Plan> = {
  // S is latency: a run is many back-to-back calls, the time per call is reported.
  S: {
    batches: 8,
    rounds: 3, // cheap, and short runs are the most exposed to a neighbour's burst
    lib: { warmup: 4, runs: 25, calls: 400 },
    libAsync: { warmup: 4, runs: 25, calls: 200 },
    python: { warmup: 2, runs: 25, calls: 40 },
    naive: { warmup: 2, runs: 25, calls: 200 },
    ceiling: { warmup: 4, runs: 25, calls: 2000 },
    js: { warmup: 4, runs: 25, calls: 200 },
    cppCore: { warmup: 4, runs: 25, calls: 2000 },
  },
  M: {
    batches: 4,
    rounds: 2, // the targets are ratios at M: two interleaved rounds, so one burst moves no row alone
    ...FORWARD_ROWS,
    train: ONE_CALL,
    cppTrain: ONE_CALL,
    cppBackward: ONE_CALL,
    pythonTrain: ONE_CALL,
  },
  H: {
    batches: 4,
    rounds: 1,
    ...FORWARD_ROWS,
  },
};

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** A small, fast, seeded PRNG (mulberry32): the same ids on every run of the bench. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes each variant's batches of ids (key-major, T*B*L int64 each) and returns their files. */
function writeIds(c: BenchConfig, batches: number, dir: string): Variants {
  const count = c.tables * c.batch * c.pooling;
  const variants: Variants = { uniform: [], skewed: [] };
  const draw: Record<string, (u: number) => number> = {
    uniform: (u) => Math.floor(c.rows * u),
    skewed: (u) => Math.floor(c.rows * u * u * u),
  };
  let seed = 1;
  for (const [name, f] of Object.entries(draw)) {
    for (let k = 0; k < batches; k++) {
      const rand = mulberry32(seed++ * 7919 + c.rows);
      const ids = new BigInt64Array(count);
      for (let i = 0; i < count; i++) ids[i] = BigInt(Math.min(c.rows - 1, f(rand())));
      const file = path.join(dir, `${c.name}_${name}_${k}.bin`);
      fs.writeFileSync(file, new Uint8Array(ids.buffer));
      variants[name].push(file);
    }
  }
  return variants;
}

let childEnv: NodeJS.ProcessEnv = process.env;

function runChild(what: string, command: string, args: string[]): ChildResult | { error: string } {
  const start = Date.now();
  const r = spawnSync(command, args, {
    cwd: ROOT,
    env: childEnv,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seconds = ((Date.now() - start) / 1000).toFixed(1);
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    log(`${what}: FAILED (${why}) after ${seconds}s`);
    return { error: why };
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const result = JSON.parse(line) as ChildResult;
    log(`${what}: done in ${seconds}s`);
    return result;
  } catch {
    log(`${what}: unreadable output after ${seconds}s: ${line.slice(0, 200)}`);
    return { error: 'unreadable output' };
  }
}

/** Transpiles lib/ and bench/ to CommonJS under build-bench/js (no type check: tsc and lint do that). */
export function transpileForChildren(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
    });
  for (const file of [...walk(path.join(ROOT, 'lib')), ...walk(__dirname).filter((f) => !f.includes('results'))]) {
    const out = path.join(CHILD_JS, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2020,
        esModuleInterop: true,
      },
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
  }
}

function nodeChild(file: string, job: object): [string, string[]] {
  const js = path.join(CHILD_JS, 'bench', file.replace(/\.ts$/, '.js'));
  return [process.execPath, [js, JSON.stringify(job)]];
}

function cppChild(impl: string, c: BenchConfig, variants: Variants, t: Timing): [string, string[]] {
  const args = ['--impl', impl, '--tables', `${c.tables}`, '--rows', `${c.rows}`, '--dim', `${c.dim}`];
  args.push('--dtype', c.dtype, '--batch', `${c.batch}`, '--pooling', `${c.pooling}`);
  args.push('--warmup', `${t.warmup}`, '--runs', `${t.runs}`, '--calls', `${t.calls}`);
  for (const [name, files] of Object.entries(variants)) args.push('--variant', `${name}=${files.join(',')}`);
  return [BENCH_BIN, args];
}

function pythonChild(c: BenchConfig, variants: Variants, t: Timing, train = false): [string, string[]] {
  const job = { ...c, variants, ...t, train, threads: os.cpus().length };
  return [PYTHON, [path.join(__dirname, 'python_peer.py'), JSON.stringify(job)]];
}

interface Outcome {
  config: BenchConfig;
  results: Record<string, ChildResult | { error: string }>;
}

type Result = ChildResult | { error: string };

/** Pools the runs of several rounds of one child: medians over all runs, the largest peak RSS. */
function pool(rounds: Result[]): Result {
  const ok = rounds.filter((r): r is ChildResult => !('error' in r));
  if (ok.length === 0) return rounds[0];
  if (ok.length === 1) return ok[0];
  const merged: ChildResult = { ...ok[0], variants: {}, peak_rss_kb: Math.max(...ok.map((r) => r.peak_rss_kb)) };
  merged.rounds = ok.length;
  for (const name of Object.keys(ok[0].variants)) {
    const runs = ok.flatMap((r) => r.variants[name]?.runs_ms ?? []);
    const v: ChildResult['variants'][string] = { ...ok[0].variants[name], ...measured(runs) };
    for (const key of LIB_KEYS) {
      const runs = ok.flatMap((r) => (r.variants[name]?.[key] as { runs_ms?: number[] } | undefined)?.runs_ms ?? []);
      if (runs.length > 0) v[key] = measured(runs);
    }
    // Paired torchrec_bench impls: the partner's runs, pooled alike.
    const partner = ok.flatMap((r) => (r.variants[name]?.partner_runs_ms as number[] | undefined) ?? []);
    if (partner.length > 0) {
      v.partner_runs_ms = partner;
      v.partner_median_ms = measured(partner).median_ms;
    }
    merged.variants[name] = v;
  }
  return merged;
}

function benchConfig(c: BenchConfig, dir: string): Outcome {
  const plan = PLANS[c.name];
  log(`${c.name}: ${c.tables} tables x ${c.rows} rows x D=${c.dim} ${c.dtype}, B=${c.batch}, L=${c.pooling}`);
  const variants = writeIds(c, plan.batches, dir);
  const rounds: Record<string, Result[]> = {};
  const run = (key: string, what: string, child: [string, string[]]) => {
    (rounds[key] ??= []).push(runChild(`${c.name} ${what}`, ...child));
  };
  const lib = { config: c, variants, sync: plan.lib, async: plan.libAsync };
  for (let round = 0; round < plan.rounds; round++) {
    if (plan.rounds > 1) log(`${c.name}: round ${round + 1} of ${plan.rounds}`);
    run('lib', 'torchrec-node', nodeChild('lib_child.ts', { ...lib, mode: 'forward' }));
    run('python', 'python peer', pythonChild(c, variants, plan.python));
    run('naive', 'naive libtorch', cppChild('naive', c, variants, plan.naive));
    run('ceiling', 'ceiling', cppChild('ceiling', c, variants, plan.ceiling));
    run('js', 'plain JS', nodeChild('js_child.ts', { config: c, variants, timing: plan.js }));
    if (plan.cppCore) {
      run('core', 'C++ core', cppChild('core', c, variants, plan.cppCore));
      run('kernel', 'C++ kernel', cppChild('kernel', c, variants, plan.cppCore));
      // The two again, alternated call by call in one process: the targets' figures (their difference
      // and ratio hold when the machine's speed moves between processes; the rows above do not).
      run('corePaired', 'C++ core + kernel, paired', cppChild('core+kernel', c, variants, plan.cppCore));
    }
  }
  if (plan.train) {
    run('train', 'train step', nodeChild('lib_child.ts', { ...lib, async: plan.train, mode: 'train', lr: 0.01 }));
    if (plan.cppTrain) run('cppTrain', 'C++ core train step', cppChild('train', c, variants, plan.cppTrain));
    if (plan.cppBackward) {
      run('cppBackward', 'C++ backward + optimizer alone', cppChild('backward', c, variants, plan.cppBackward));
    }
    if (!('unavailable' in rounds.train[0])) {
      run('pythonTrain', 'python train step', pythonChild(c, variants, plan.pythonTrain!, true));
    }
  }
  if (c.dtype === 'fp16') {
    // The same tables in fp32, constructed only: fp16 tables must take half the memory.
    const fp32 = { ...c, dtype: 'fp32' as const };
    run(
      'memoryFp32',
      'with fp32 tables (memory only)',
      nodeChild('lib_child.ts', { ...lib, config: fp32, mode: 'memory' }),
    );
  }
  for (const files of Object.values(variants)) for (const f of files) fs.rmSync(f, { force: true });
  const results: Outcome['results'] = {};
  for (const [key, list] of Object.entries(rounds)) results[key] = pool(list);
  return { config: c, results };
}

function medianOf(
  r: ChildResult | { error: string } | undefined,
  variant: string,
  key?: (typeof LIB_KEYS)[number],
): number | null {
  if (!r || 'error' in r) return null;
  const v = r.variants[variant] as Record<string, unknown> | undefined;
  if (!v) return null;
  const m = key ? (v[key] as { median_ms?: number } | undefined)?.median_ms : (v.median_ms as number);
  return typeof m === 'number' ? m : null;
}

function rowsOf(o: Outcome): Row[] {
  const { config: c, results } = o;
  const bytes = forwardBytes(c);
  const rows: Row[] = [];
  const peak = (r: ChildResult | { error: string } | undefined) => (r && !('error' in r) ? r.peak_rss_kb : null);
  for (const variant of ['uniform', 'skewed']) {
    const ceiling = medianOf(results.ceiling, variant);
    const python = medianOf(results.python, variant);
    const add = (impl: string, ms: number | null, rss: number | null, note = '', b = bytes, reference = python) => {
      rows.push({
        config: c.name,
        ids: variant,
        impl,
        median_ms: ms,
        gbps: ms ? b / (ms / 1000) / 1e9 : null,
        of_ceiling: ms && ceiling ? ceiling / ms : null,
        vs_python: ms && reference ? reference / ms : null,
        peak_rss_kb: rss,
        note,
      });
    };
    add(SYNC_ROW, medianOf(results.lib, variant), peak(results.lib));
    add(SYNC_OUT_ROW, medianOf(results.lib, variant, 'syncOut'), peak(results.lib));
    add(ALLOC_ROW, medianOf(results.lib, variant, 'alloc'), peak(results.lib));
    add('torchrec-node forward (async)', medianOf(results.lib, variant, 'async'), peak(results.lib));
    add(ASYNC_OUT_ROW, medianOf(results.lib, variant, 'asyncOut'), peak(results.lib));
    const inline = medianOf(results.lib, variant, 'asyncInline');
    if (inline !== null) add(ASYNC_INLINE_ROW, inline, peak(results.lib));
    add('Python peer (TorchRec way, torch 1.13)', python, peak(results.python));
    add('naive libtorch (at::embedding_bag per table)', medianOf(results.naive, variant), peak(results.naive));
    add('plain JS loop (1 thread)', medianOf(results.js, variant), peak(results.js));
    if (results.core)
      add('C++ core EBC, no Node (KJT + checks + kernel)', medianOf(results.core, variant), peak(results.core));
    if (results.kernel) add('C++ fused kernel alone', medianOf(results.kernel, variant), peak(results.kernel));
    const paired = results.corePaired;
    if (paired && !('error' in paired) && paired.variants[variant]) {
      const note = 'one process, alternated call by call';
      add(PAIRED_CORE_ROW, medianOf(paired, variant), null, note);
      add(PAIRED_KERNEL_ROW, (paired.variants[variant].partner_median_ms as number | undefined) ?? null, null, note);
    }
    add('ceiling (tight C++ gather, best of threads x prefetch)', ceiling, peak(results.ceiling));
    if (results.train) {
      const train = results.train;
      if ('unavailable' in train) {
        add(
          'train step (forward + backward + rowwise_adagrad)',
          null,
          null,
          'not yet measured: ebc.backward does not exist in this build',
        );
      } else {
        const pyTrain = medianOf(results.pythonTrain, variant);
        // A train step reads the rows twice and writes them (and their state) once: no byte model here.
        add(
          'train step: forward + backward + rowwise_adagrad',
          medianOf(train, variant),
          peak(train),
          'vs Python: its train step',
          0,
          pyTrain,
        );
        if (results.cppTrain) {
          add(
            'C++ core train step, no Node (same steps)',
            medianOf(results.cppTrain, variant),
            peak(results.cppTrain),
            '',
            0,
            pyTrain,
          );
        }
        if (results.cppBackward) {
          const b = results.cppBackward;
          const isa = 'error' in b ? '' : `kernels: forward ${String(b.isa)}, backward ${String(b.backward_isa)}`;
          // No Python ratio: Python has no backward-only row to compare with.
          add('C++ backward + rowwise_adagrad alone (no forward)', medianOf(b, variant), peak(b), isa, 0, null);
        }
        add(
          'Python train step: nn.EmbeddingBag(sparse) + optim.Adagrad',
          pyTrain,
          peak(results.pythonTrain),
          '',
          0,
          pyTrain,
        );
      }
    }
  }
  return rows;
}

function machine(): Record<string, unknown> {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8').trim();
    } catch {
      return 'unknown';
    }
  };
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const torch = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    thp: read('/sys/kernel/mm/transparent_hugepage/enabled'),
    node: process.version,
    python_torch: torch.status === 0 ? torch.stdout.trim() : 'unavailable',
    addon: findAddon().found?.path ?? 'not found',
    bench_bin: BENCH_BIN,
    commit: git.status === 0 ? git.stdout.trim() : 'unknown',
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const onlyArg = args.indexOf('--only');
  const only = onlyArg >= 0 ? args[onlyArg + 1].split(',') : CONFIGS.map((c) => c.name);
  const write = !args.includes('--no-write');
  if (!fs.existsSync(BENCH_BIN)) {
    throw new Error(`${BENCH_BIN} is missing: build it with \`npm run bench:build\` (or set TORCHREC_BENCH_BIN)`);
  }
  const addon = findAddon().found?.path;
  if (!addon)
    throw new Error('the torchrec-node addon is not built: run `npm run build:native` (or set TORCHREC_NODE_ADDON)');
  // The children load lib/ from build-bench/js, so they are told where the addon is.
  childEnv = { ...process.env, TORCHREC_NODE_ADDON: addon };
  transpileForChildren();
  const meta: Record<string, unknown> = { date: new Date().toISOString(), ...machine(), load_before: os.loadavg() };
  log(
    `addon ${meta.addon}; ${meta.cores} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchrec-bench-'));
  const outcomes: Outcome[] = [];
  try {
    for (const c of CONFIGS.filter((x) => only.includes(x.name))) outcomes.push(benchConfig(c, dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows = outcomes.flatMap(rowsOf);
  const full = {
    meta: { ...meta, load_after: os.loadavg() },
    configs: outcomes.map((o) => o.config),
    rows,
    raw: outcomes,
  };
  process.stdout.write(renderText(full) + '\n');
  if (write) {
    fs.mkdirSync(RESULTS, { recursive: true });
    fs.writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify(full, null, 1) + '\n');
    fs.writeFileSync(path.join(RESULTS, 'latest.md'), renderMarkdown(full));
    log(`wrote ${path.relative(ROOT, path.join(RESULTS, 'latest.json'))} and latest.md`);
  }
}

if (require.main === module) main();
