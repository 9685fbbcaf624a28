/**
 * Quantized tables beside float ones (issue 14): configurations M and H with their float type, int8
 * and int4, each data type in its own child (bench/quantized_child.ts) so that its resident memory is
 * its tables', rounds interleaved (fp, int8, int4, fp, ...) and every run pooled, because the machine
 * may be shared. Prints a markdown table: median forward, GB/s by FBGEMM's byte formula for the stored
 * row size (weights read B·L·T·rowBytes plus output written B·T·D·4), the ratio to the float forward,
 * and the tables' resident memory against fp32's.
 *
 * Usage: node -r ./test/helpers/ts_register.js bench/quantized.ts [rounds=2] [runs=15]
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { CONFIGS, median } from './common';
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

function main(): void {
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
    '| config | dtype | row bytes | median forward ms | min ms | GB/s (median) | vs float forward (medians) | tables RSS MiB | tables RSS vs fp32 bytes |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const name of ['M', 'H']) {
    const config = CONFIGS.find((c) => c.name === name) as BenchConfig;
    const dtypes = [config.dtype, 'int8', 'int4'];
    const pooled: Record<string, number[]> = {};
    const rss: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const dtype of dtypes) {
        const out = child(config, dtype, runs);
        (pooled[dtype] ??= []).push(...out.runs_ms);
        (rss[dtype] ??= []).push(out.tables_rss_kb);
      }
    }
    const base = median(pooled[config.dtype]);
    // fp32 tables' bytes, for the memory ratio (H's fp32 tables are not built: 8 GB).
    const fp32Kb = (config.tables * config.rows * config.dim * 4) / 1024;
    for (const dtype of dtypes) {
      const ms = median(pooled[dtype]);
      const rowBytes = ROW_BYTES[dtype](config.dim);
      const bytes =
        config.batch * config.pooling * config.tables * rowBytes + config.batch * config.tables * config.dim * 4;
      const rssKb = median(rss[dtype]);
      lines.push(
        `| ${name} | ${dtype} | ${rowBytes} | ${ms.toFixed(2)} | ${Math.min(...pooled[dtype]).toFixed(2)} | ` +
          `${(bytes / (ms / 1e3) / 1e9).toFixed(2)} | ` +
          `${(base / ms).toFixed(2)}x | ${(rssKb / 1024).toFixed(0)} | ${(rssKb / fp32Kb).toFixed(3)} |`,
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
  process.stdout.write(lines.join('\n') + '\n');
}

main();
