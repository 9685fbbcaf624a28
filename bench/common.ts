/** Shared by the bench runner (bench/run.ts) and its child processes. */
import * as fs from 'fs';
import * as path from 'path';

/** The C++ bench binary (bench/native): TORCHREC_BENCH_BIN, else what `npm run bench:build` makes. */
export const BENCH_BIN =
  process.env.TORCHREC_BENCH_BIN ?? path.join(__dirname, '..', 'build-bench', 'bench', 'torchrec_bench');

export type DType = 'fp32' | 'fp16';

/** DESIGN.md's configurations. */
export interface BenchConfig {
  name: string;
  tables: number;
  rows: number;
  dim: number;
  dtype: DType;
  batch: number;
  pooling: number;
}

export const CONFIGS: BenchConfig[] = [
  { name: 'S', tables: 4, rows: 10_000, dim: 16, dtype: 'fp32', batch: 32, pooling: 4 },
  { name: 'M', tables: 8, rows: 1_000_000, dim: 64, dtype: 'fp32', batch: 4096, pooling: 20 },
  { name: 'H', tables: 8, rows: 2_000_000, dim: 128, dtype: 'fp16', batch: 4096, pooling: 20 },
];

/** Id files per distribution: each holds T*B*L little-endian int64, key-major, every bag L long. */
export type Variants = Record<string, string[]>;

/** How one implementation is timed: `warmup` runs, then `runs` runs of `calls` back-to-back calls. */
export interface Timing {
  warmup: number;
  runs: number;
  calls: number;
}

export interface Measured {
  median_ms: number;
  runs_ms: number[];
  [extra: string]: unknown;
}

/** What every child prints (one JSON line on stdout). */
export interface ChildResult {
  impl: string;
  variants: Record<string, Measured>;
  peak_rss_kb: number;
  rss_kb: number;
  rss_after_init_kb?: number;
  threads?: number;
  [extra: string]: unknown;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** VmHWM (peak) and VmRSS of this process, in KiB. */
export function memoryKb(): { peak: number; rss: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const read = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status);
    return m ? Number(m[1]) : -1;
  };
  return { peak: read('VmHWM'), rss: read('VmRSS') };
}

/** Reads one id file as a BigInt64Array (a fresh, aligned copy). */
export function readIds(file: string, count: number): BigInt64Array {
  const buf = fs.readFileSync(file);
  if (buf.length < count * 8) throw new Error(`${file}: ${buf.length} bytes, expected ${count * 8}`);
  const out = new BigInt64Array(count);
  new Uint8Array(out.buffer).set(buf.subarray(0, count * 8));
  return out;
}

/** FBGEMM's byte count for a forward: weights read B·L·T·D·elem plus output written B·T·D·4. */
export function forwardBytes(c: BenchConfig): number {
  const elem = c.dtype === 'fp16' ? 2 : 4;
  return c.batch * c.pooling * c.tables * c.dim * elem + c.batch * c.tables * c.dim * 4;
}

/** Times a synchronous call: per-call milliseconds of each run. */
export function timeSync(t: Timing, call: (i: number) => void): number[] {
  let i = 0;
  for (let w = 0; w < t.warmup * t.calls; w++) call(i++);
  const runs: number[] = [];
  for (let r = 0; r < t.runs; r++) {
    const start = process.hrtime.bigint();
    for (let c = 0; c < t.calls; c++) call(i++);
    runs.push(Number(process.hrtime.bigint() - start) / 1e6 / t.calls);
  }
  return runs;
}

/** Times an asynchronous call awaited one after the other (a round trip each). */
export async function timeAsync(t: Timing, call: (i: number) => Promise<unknown>): Promise<number[]> {
  let i = 0;
  for (let w = 0; w < t.warmup * t.calls; w++) await call(i++);
  const runs: number[] = [];
  for (let r = 0; r < t.runs; r++) {
    const start = process.hrtime.bigint();
    for (let c = 0; c < t.calls; c++) await call(i++);
    runs.push(Number(process.hrtime.bigint() - start) / 1e6 / t.calls);
  }
  return runs;
}

export function measured(runs: number[]): Measured {
  return { median_ms: median(runs), runs_ms: runs };
}

/** Children get their job as one JSON argument and print one JSON line. */
export function childArgument<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('expected the job as a JSON argument');
  return JSON.parse(raw) as T;
}
