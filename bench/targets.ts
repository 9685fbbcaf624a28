/**
 * Issue 19's fixed-cost targets, read off the rows of one bench run (every row comes from the same
 * interleaved rounds, so these are side-by-side figures): the C++ core within 0.3 µs of the fused
 * kernel at S and within 5% of it at M; forwardSync from JS at S under 3 µs; async forward at S
 * under 15 µs.
 */
import { Row } from './report';

export const CORE_ROW = 'C++ core EBC, no Node (KJT + checks + kernel)';
export const KERNEL_ROW = 'C++ fused kernel alone';
// The same two alternated call by call in one process (torchrec_bench --impl core+kernel): preferred
// for the targets, since separate processes see the machine at different speeds.
export const PAIRED_CORE_ROW = 'C++ core EBC, paired with the kernel';
export const PAIRED_KERNEL_ROW = 'C++ fused kernel, paired with the core';
export const SYNC_ROW = 'torchrec-node forwardSync';
export const ASYNC_ROW = 'torchrec-node forward (async)';
export const SYNC_OUT_ROW = 'torchrec-node forwardSync into a reused out';
export const ASYNC_OUT_ROW = 'torchrec-node forward (async) into a reused out';
// Plain JS: `new Float32Array` of the result's size, alone (what forwardSync's result costs to allocate).
export const ALLOC_ROW = 'new Float32Array of the result size alone (plain JS)';
export const ASYNC_INLINE_ROW = 'torchrec-node forward (async, inlineSmallForwards)';

export interface Target {
  config: string;
  ids: string;
  what: string;
  measured: string;
  target: string;
  met: boolean | null; // null: a row is missing
}

function median(rows: Row[], config: string, ids: string, impl: string): number | null {
  return rows.find((r) => r.config === config && r.ids === ids && r.impl === impl)?.median_ms ?? null;
}

const us = (ms: number) => `${(ms * 1000).toFixed(2)} µs`;

export function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const groups = [...new Set(rows.map((r) => `${r.config}\u0000${r.ids}`))].map((g) => g.split('\u0000'));
  for (const [config, ids] of groups) {
    const pairedCore = median(rows, config, ids, PAIRED_CORE_ROW);
    const pairedKernel = median(rows, config, ids, PAIRED_KERNEL_ROW);
    const paired = pairedCore !== null && pairedKernel !== null;
    const core = paired ? pairedCore : median(rows, config, ids, CORE_ROW);
    const kernel = paired ? pairedKernel : median(rows, config, ids, KERNEL_ROW);
    const both = core !== null && kernel !== null;
    const how = paired ? ', paired' : '';
    if (config === 'S') {
      out.push({
        config,
        ids,
        what: `C++ core − kernel${how}`,
        measured: both ? `${us(core - kernel)} (${us(core)} − ${us(kernel)})` : '—',
        target: '≤ 0.30 µs',
        met: both ? core - kernel <= 0.0003 : null,
      });
      for (const [what, impl, limit] of [
        ['forwardSync from JS', SYNC_ROW, 0.003],
        ['forwardSync from JS into a reused out', SYNC_OUT_ROW, 0.003],
        ['async forward from JS (default: off the JS thread)', ASYNC_ROW, 0.015],
        ['async forward from JS into a reused out', ASYNC_OUT_ROW, 0.015],
        ['async forward from JS (inlineSmallForwards: true)', ASYNC_INLINE_ROW, 0.015],
      ] as const) {
        const ms = median(rows, config, ids, impl);
        out.push({
          config,
          ids,
          what,
          measured: ms === null ? '—' : us(ms),
          target: `< ${us(limit)}`,
          met: ms === null ? null : ms < limit,
        });
      }
    } else if (config === 'M') {
      out.push({
        config,
        ids,
        what: `C++ core / kernel${how}`,
        measured: both
          ? `${core >= kernel ? '+' : ''}${((core / kernel - 1) * 100).toFixed(1)}% (${core.toFixed(2)} ms / ${kernel.toFixed(2)} ms)`
          : '—',
        target: '≤ +5%',
        met: both ? core <= kernel * 1.05 : null,
      });
    }
  }
  return out;
}

export function targetLines(rows: Row[]): string[] {
  return targets(rows).map(
    (t) =>
      `${t.config} ${t.ids}: ${t.what} ${t.measured}, target ${t.target}: ` +
      (t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'),
  );
}
