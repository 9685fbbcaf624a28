/** Renders the bench's results as a plain-text table (stdout) and as markdown (bench/results/latest.md). */
import { BenchConfig, ChildResult } from './common';
import { targetLines } from './targets';

export interface Row {
  config: string;
  ids: string;
  impl: string;
  median_ms: number | null;
  gbps: number | null;
  of_ceiling: number | null;
  vs_python: number | null;
  peak_rss_kb: number | null;
  note: string;
}

export interface Results {
  meta: Record<string, unknown>;
  configs: BenchConfig[];
  rows: Row[];
  raw: { config: BenchConfig; results: Record<string, ChildResult | { error: string }> }[];
}

const HEADER = ['cfg', 'ids', 'implementation', 'median', 'GB/s', 'of ceiling', 'vs Python', 'peak RSS'];

function time(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1 ? `${(ms * 1000).toFixed(2)} µs` : `${ms.toFixed(2)} ms`;
}

function memory(kb: number | null | undefined): string {
  if (kb === null || kb === undefined || kb < 0) return '—';
  return kb >= 1 << 20 ? `${(kb / (1 << 20)).toFixed(2)} GiB` : `${(kb / 1024).toFixed(0)} MiB`;
}

function cells(r: Row): string[] {
  return [
    r.config,
    r.ids,
    r.impl + (r.note ? ` (${r.note})` : ''),
    time(r.median_ms),
    r.gbps ? r.gbps.toFixed(2) : '—',
    r.of_ceiling ? `${(r.of_ceiling * 100).toFixed(0)}%` : '—',
    r.vs_python ? `${r.vs_python.toFixed(2)}×` : '—',
    memory(r.peak_rss_kb),
  ];
}

/** Resident memory of this library holding each configuration, and fp16 against fp32 tables. */
function memoryLines(results: Results): string[] {
  const lines: string[] = [];
  for (const { config: c, results: r } of results.raw) {
    const lib = r.lib;
    if (!lib || 'error' in lib) continue;
    const elem = c.dtype === 'fp16' ? 2 : 4;
    const tableBytes = c.tables * c.rows * c.dim * elem;
    const grown = (x: ChildResult) => Number(x.rss_after_init_kb) - Number(x.rss_before_init_kb);
    let line =
      `${c.name}: tables ${memory(tableBytes / 1024)} (${c.dtype}); the torchrec-node process grew by ` +
      `${memory(grown(lib))} constructing them (RSS ${memory(lib.rss_after_init_kb)} after, ` +
      `peak ${memory(lib.peak_rss_kb)} over the whole run)`;
    const fp32 = r.memoryFp32;
    if (fp32 && !('error' in fp32)) {
      line +=
        `; the same tables in fp32: grew by ${memory(grown(fp32))} (peak ${memory(fp32.peak_rss_kb)}) -> ` +
        `fp16/fp32 = ${(grown(lib) / grown(fp32)).toFixed(3)} (peak ${(lib.peak_rss_kb / fp32.peak_rss_kb).toFixed(3)})`;
    }
    lines.push(line);
  }
  return lines;
}

function notes(results: Results): string[] {
  const m = results.meta;
  const kernel = results.raw.map((o) => o.results.kernel).find((r) => r && !('error' in r)) as ChildResult | undefined;
  const backward = results.raw.map((o) => o.results.cppBackward).find((r) => r && !('error' in r)) as
    ChildResult | undefined;
  const lib = results.raw.map((o) => o.results.lib).find((r) => r && !('error' in r)) as ChildResult | undefined;
  const chosen = lib?.cpu_kernels as Record<string, string> | undefined;
  const load = (x: unknown) => (Array.isArray(x) ? x.map((v: number) => v.toFixed(1)).join(' ') : '?');
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB; THP ${m.thp}; node ${m.node}; Python torch ${m.python_torch}.`,
    `Load average before ${load(m.load_before)}, after ${load(m.load_after)} (the machine is shared; medians resist, not remove, noise).`,
    `Addon ${m.addon}; commit ${m.commit}; fused kernel path on this CPU: ${String(kernel?.isa ?? 'not measured')}; ` +
      `backward + optimizer path: ${String(backward?.backward_isa ?? 'not measured')}` +
      `${
        chosen
          ? ` (the addon's CPU kernels: ${Object.entries(chosen)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')})`
          : ''
      }.`,
    'median: per call (S: a run is hundreds of back-to-back calls; M, H: one call). GB/s: FBGEMM bytes ' +
      '(weights read B·L·T·D·elem + output written B·T·D·4) / median. of ceiling: ceiling median / row median. ' +
      'vs Python: Python median / row median (train rows: against the Python train step).',
  ];
}

export function renderText(results: Results): string {
  const table = [HEADER, ...results.rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const out = [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previous = '';
  for (const r of results.rows) {
    const group = `${r.config}/${r.ids}`;
    if (previous && group !== previous) out.push('');
    previous = group;
    out.push(line(cells(r)));
  }
  const goals = targetLines(results.rows);
  return [
    ...out,
    '',
    ...(goals.length ? ['Targets (issue 19):', ...goals, ''] : []),
    ...memoryLines(results),
    '',
    ...notes(results),
  ].join('\n');
}

export function renderMarkdown(results: Results): string {
  const out = [
    '# torchrec-node benchmark: latest run',
    '',
    `Run with \`npm run bench\` on ${String(results.meta.date)}. Raw numbers (every run of every row): ` +
      '[latest.json](latest.json).',
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i >= 3 ? '---:' : '---')).join('|')}|`,
    ...results.rows.map((r) => `| ${cells(r).join(' | ')} |`),
    '',
    ...(targetLines(results.rows).length
      ? ['## Targets (issue 19: no fixed cost per call)', '', ...targetLines(results.rows).map((l) => `- ${l}`), '']
      : []),
    '## Memory',
    '',
    ...memoryLines(results).map((l) => `- ${l}`),
    '',
    '## Notes',
    '',
    ...notes(results).map((l) => `- ${l}`),
    '',
  ];
  return out.join('\n');
}
