/**
 * Quantized tables beside float ones (issue 14): configurations M and H with their float type, int8
 * and int4, each data type in its own child (bench/quantized_child.ts) so that its resident memory is
 * its tables', rounds interleaved (fp, int8, int4, fp, ...) and every run pooled, because the machine
 * may be shared. Each round also times, on the same ids, the C++ kernel alone and the machine's gather
 * ceiling for the stored row size (bench/native: `torchrec_bench --impl kernel+ceiling --dtype ...`, the two
 * alternated call by call on the same tables; "kernel of ceiling" is the median of the runs' ceiling/kernel).
 * Prints a markdown table: median forwardSync, GB/s by FBGEMM's byte formula for the stored row size
 * (weights read B·L·T·rowBytes plus output written B·T·D·4), the ratio to the float forward, the
 * kernel against the ceiling, and the tables' resident memory against fp32's.
 *
 * Usage: npm run bench:quantized [-- <rounds=2> <runs=15>] (builds the C++ bench binary first)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BENCH_BIN, CONFIGS, median } from './common';
import type { BenchConfig } from './common';

const ROW_BYTES: Record<string, (d: number) => number> = {
  fp32: (d) => 4 * d,
  fp16: (d) => 2 * d,
  int8: (d) => d + 4,
  int4: (d) => d / 2 + 4,
};

function child(config: BenchConfig, dtype: string, runs: number): { runs_ms: number[]; tables_rss_kb: number } {
  const r = spawnSync(
    process.execPath,
    [
      '-r',
      path.join(__dirname, '..', 'test', 'helpers', 'ts_register.js'),
      path.join(__dirname, 'quantized_child.ts'),
      JSON.stringify({ config, dtype, runs }),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`quantized_child ${config.name} ${dtype}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

/** The two batches quantized_child.ts draws (its LCG), as torchrec_bench id files (int64, key-major). */
function writeIds(c: BenchConfig, dir: string): string[] {
  const count = c.tables * c.batch * c.pooling;
  return [0, 1].map((k) => {
    const ids = new BigInt64Array(count);
    let x = 12345 + k;
    for (let i = 0; i < count; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      ids[i] = BigInt(x % c.rows);
    }
    const file = path.join(dir, `${c.name}_${k}.bin`);
    fs.writeFileSync(file, new Uint8Array(ids.buffer));
    return file;
  });
}

/** torchrec_bench's runs (ms) for `impl` on one configuration and data type, and what it reported. */
function native(
  impl: 'kernel+ceiling',
  c: BenchConfig,
  dtype: string,
  ids: string[],
  runs: number,
): { runs_ms: number[]; ceiling_runs_ms: number[]; isa?: string } {
  const args = ['--impl', impl, '--tables', `${c.tables}`, '--rows', `${c.rows}`, '--dim', `${c.dim}`];
  args.push('--dtype', dtype, '--batch', `${c.batch}`, '--pooling', `${c.pooling}`);
  args.push('--warmup', '10', '--runs', `${runs}`, '--variant', `uniform=${ids.join(',')}`);
  const r = spawnSync(BENCH_BIN, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torchrec_bench ${impl} ${c.name} ${dtype}: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
  const v = out.variants.uniform;
  return { runs_ms: v.runs_ms, ceiling_runs_ms: v.partner_runs_ms, isa: out.isa };
}

function main(): void {
  if (!fs.existsSync(BENCH_BIN)) throw new Error(`${BENCH_BIN} is missing: run \`npm run bench:build\``);
  const idDir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchrec-quantized-bench-'));
  const rounds = Number(process.argv[2] ?? 2);
  const runs = Number(process.argv[3] ?? 15);
  const lines: string[] = [];
  lines.push(
    `load average before: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  lines.push('');
  lines.push(
    '| config | dtype | row bytes | forwardSync ms (median) | GB/s | vs float forwardSync | C++ kernel ms | ceiling ms | kernel of ceiling: median of the runs (range) | kernel ISA | tables RSS MiB | RSS vs fp32 bytes |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const name of ['M', 'H']) {
    const config = CONFIGS.find((c) => c.name === name) as BenchConfig;
    const dtypes = [config.dtype, 'int8', 'int4'];
    const ids = writeIds(config, idDir);
    const pooled: Record<string, number[]> = {};
    const kernel: Record<string, number[]> = {};
    const ceiling: Record<string, number[]> = {};
    const ratio: Record<string, number[]> = {};
    const isa: Record<string, string> = {};
    const rss: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const dtype of dtypes) {
        const out = child(config, dtype, runs);
        (pooled[dtype] ??= []).push(...out.runs_ms);
        (rss[dtype] ??= []).push(out.tables_rss_kb);
        const k = native('kernel+ceiling', config, dtype, ids, runs);
        (kernel[dtype] ??= []).push(...k.runs_ms);
        (ceiling[dtype] ??= []).push(...k.ceiling_runs_ms);
        // Each run's kernel and ceiling calls are neighbours on the same tables: their ratio is what
        // drifts least when the machine's speed moves between processes.
        (ratio[dtype] ??= []).push(...k.ceiling_runs_ms.map((ms, i) => ms / k.runs_ms[i]));
        isa[dtype] = k.isa ?? '';
      }
    }
    for (const file of ids) fs.rmSync(file);
    const base = median(pooled[config.dtype]);
    // fp32 tables' bytes, for the memory ratio (H's fp32 tables are not built: 8 GB).
    const fp32Kb = (config.tables * config.rows * config.dim * 4) / 1024;
    for (const dtype of dtypes) {
      const ms = median(pooled[dtype]);
      const rowBytes = ROW_BYTES[dtype](config.dim);
      const bytes =
        config.batch * config.pooling * config.tables * rowBytes + config.batch * config.tables * config.dim * 4;
      const rssKb = median(rss[dtype]);
      const kernelMs = median(kernel[dtype]);
      const ceilingMs = median(ceiling[dtype]);
      lines.push(
        `| ${name} | ${dtype} | ${rowBytes} | ${ms.toFixed(2)} | ${(bytes / (ms / 1e3) / 1e9).toFixed(2)} | ` +
          `${(base / ms).toFixed(2)}x | ${kernelMs.toFixed(2)} | ${ceilingMs.toFixed(2)} | ` +
          `${(100 * median(ratio[dtype])).toFixed(0)}% (${(100 * Math.min(...ratio[dtype])).toFixed(0)}-${(100 * Math.max(...ratio[dtype])).toFixed(0)}%) | ${isa[dtype]} | ` +
          `${(rssKb / 1024).toFixed(0)} | ${(rssKb / fp32Kb).toFixed(3)} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    `load average after: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  fs.rmSync(idDir, { recursive: true, force: true });
  process.stdout.write(lines.join('\n') + '\n');
}

main();
