/**
 * Quantized tables against PyTorch's quantized embedding-bag ops (FBGEMM's row-wise formats, which
 * Debian's python3-torch reproduces): INT4/INT2 bytes equal embedding_bag_{4,2}bit_prepack's exactly
 * (layout converted: torch puts scale and bias last), INT8 bytes equal a line-for-line transcription of
 * FBGEMM's SBHalf quantizer; pooled outputs match embedding_bag_{4,2}bit / byte_rowwise_offsets.
 */
import { execFile } from 'child_process';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { DataType, EmbeddingBagCollection } from '../../lib';
import { describePython, PYTHON } from '../checkpoint/helpers';
import { tmpDir } from '../helpers/tmp';
import { BITS, caseCollection, caseKjt, quantizeRowRef, randomPoolCase, stressTable } from './quantized_reference';

function oracle(job: Record<string, unknown>, dir: string): Promise<void> {
  return (async () => {
    const file = path.join(dir, `job-${Math.random().toString(36).slice(2)}.json`);
    await fsp.writeFile(file, JSON.stringify(job));
    await new Promise<void>((resolve, reject) =>
      execFile(PYTHON, [path.join(__dirname, 'python', 'oracle.py'), file], (err, _out, stderr) =>
        err ? reject(new Error(`oracle.py failed: ${stderr || err.message}`)) : resolve(),
      ),
    );
  })();
}

async function storedRows(ebc: EmbeddingBagCollection, table: string): Promise<Uint8Array> {
  const state = await ebc.exportState([table]);
  return state.tables[table].weight as Uint8Array;
}

function quantizedFrom(table: Float32Array, rows: number, dim: number, dtype: DataType): EmbeddingBagCollection {
  const source = new EmbeddingBagCollection({
    tables: [{ name: 't', num_embeddings: rows, embedding_dim: dim }],
    seed: 3,
  });
  source.setWeights('t', table);
  const q = source.quantize(dtype);
  source.dispose();
  return q;
}

function firstDifference(a: Uint8Array, b: Uint8Array, rowBytes: number): string | null {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `row ${Math.floor(i / rowBytes)} byte ${i % rowBytes}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

describe('INT8: FBGEMM SBHalf at 8 bits (line-for-line reference)', () => {
  test.each([
    [70, 16, 1],
    [35, 8, 2],
    [21, 100, 3],
    [7, 1, 4],
  ])('%i rows x dim %i (seed %i): bytes equal', async (rows, dim, seed) => {
    const table = stressTable(rows, dim, 8, seed);
    const q = quantizedFrom(table, rows, dim, DataType.INT8);
    const got = await storedRows(q, 't');
    const want = new Uint8Array(rows * (dim + 4));
    for (let r = 0; r < rows; r++) {
      want.set(quantizeRowRef(table.subarray(r * dim, (r + 1) * dim), 8), r * (dim + 4));
    }
    expect(firstDifference(got, want, dim + 4)).toBeNull();
    q.dispose();
  });

  test('the reference itself: constant row, ties to even, clamping', () => {
    expect([...quantizeRowRef(Float32Array.from([2, 2, 2, 2]), 8)]).toEqual([0x00, 0x3c, 0x00, 0x40, 0, 0, 0, 0]);
    // scale 1 (range 15 over 15 levels): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (ties to even)
    const row = quantizeRowRef(Float32Array.from([0, 15, 0.5, 1.5, 2.5, 3.5]), 4);
    expect([...row.subarray(4)]).toEqual([0 | (15 << 4), 0 | (2 << 4), 2 | (4 << 4)]);
  });
});

describePython('INT4 / INT2 against torch embedding_bag_{4,2}bit_prepack', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('quant-oracle');
  });

  test.each([
    [DataType.INT4, 70, 16, 11],
    [DataType.INT4, 28, 2, 12],
    [DataType.INT4, 14, 130, 13],
    [DataType.INT2, 70, 16, 21],
    [DataType.INT2, 28, 4, 22],
    [DataType.INT2, 14, 132, 23],
  ])('%s %i rows x dim %i (seed %i): bytes equal torch', async (dtype, rows, dim, seed) => {
    const bits = BITS[dtype];
    const table = stressTable(rows, dim, bits, seed);
    const q = quantizedFrom(table, rows, dim, dtype);
    const got = await storedRows(q, 't');
    await fsp.writeFile(path.join(dir, 'table.bin'), table);
    await oracle({ rows, dim, bits, table: path.join(dir, 'table.bin'), packed_out: path.join(dir, 'p.bin') }, dir);
    const want = new Uint8Array(await fsp.readFile(path.join(dir, 'p.bin')));
    expect(firstDifference(got, want, 4 + (dim * bits) / 8)).toBeNull();
    // Our line-for-line reference agrees too (it is the INT8 oracle).
    const rowBytes = 4 + (dim * bits) / 8;
    for (let r = 0; r < rows; r++) {
      expect([...quantizeRowRef(table.subarray(r * dim, (r + 1) * dim), bits)]).toEqual([
        ...want.subarray(r * rowBytes, (r + 1) * rowBytes),
      ]);
    }
    q.dispose();
  });

  test.each(Array.from({ length: 12 }, (_, i) => 500 + i))(
    'pooled outputs within 1e-5 of torch (random case, seed %i)',
    async (seed) => {
      const c = randomPoolCase(seed);
      const bits = BITS[c.dtype];
      const ebc = caseCollection(c);
      const got = (await ebc.forward(caseKjt(c))).values();
      const stored = await storedRows(ebc, 't');
      const offsets = new BigInt64Array(c.batch + 1);
      for (let b = 0; b < c.batch; b++) offsets[b + 1] = offsets[b] + BigInt(c.lengths[b]);
      const file = (n: string) => path.join(dir, `${seed}-${n}.bin`);
      await fsp.writeFile(file('stored'), stored);
      await fsp.writeFile(file('ids'), BigInt64Array.from(c.ids.map(BigInt)));
      await fsp.writeFile(file('offsets'), offsets);
      if (c.weighted) await fsp.writeFile(file('weights'), Float32Array.from(c.weights));
      await oracle(
        {
          rows: c.rows,
          dim: c.dim,
          bits,
          stored: file('stored'),
          ids: file('ids'),
          offsets: file('offsets'),
          weights: c.weighted ? file('weights') : null,
          mode: c.mean ? 1 : 0,
          pooled_out: file('pooled'),
        },
        dir,
      );
      const want = new Float32Array((await fsp.readFile(file('pooled'))).buffer.slice(0));
      expect(want.length).toBe(got.length);
      // Relative to the size of the terms summed (a bag's rows can cancel): |a - b| <= 1e-5 * sum |term|.
      const deq = ebc.getWeights('t');
      const bad: string[] = [];
      let at = 0;
      for (let b = 0; b < c.batch; b++) {
        const n = c.lengths[b];
        for (let d = 0; d < c.dim; d++) {
          let mag = 0;
          for (let k = 0; k < n; k++) {
            const w = c.weighted ? Math.abs(c.weights[at + k]) : 1;
            mag += w * Math.abs(deq[c.ids[at + k] * c.dim + d]);
          }
          if (c.mean && n > 0) mag /= n;
          const i = b * c.dim + d;
          if (Math.abs(got[i] - want[i]) > 1e-5 * Math.max(mag, 1e-30))
            bad.push(`[${b}][${d}] ${got[i]} vs ${want[i]}`);
        }
        at += n;
      }
      expect(bad.slice(0, 5)).toEqual([]);
      ebc.dispose();
    },
  );
});

test('getWeights is the dequantized table: scale * code + bias per value', async () => {
  const rows = 9;
  const dim = 8;
  const table = stressTable(rows, dim, 4, 5);
  const q = quantizedFrom(table, rows, dim, DataType.INT4);
  const stored = await storedRows(q, 't');
  const w = q.getWeights('t');
  const view = new DataView(stored.buffer, stored.byteOffset);
  const { halfToFloat } = await import('../../lib/checkpoint/dtypes');
  for (let r = 0; r < rows; r++) {
    const base = r * (4 + dim / 2);
    const scale = halfToFloat(view.getUint16(base, true));
    const bias = halfToFloat(view.getUint16(base + 2, true));
    for (let d = 0; d < dim; d++) {
      const code = (stored[base + 4 + (d >> 1)] >> ((d & 1) * 4)) & 15;
      expect(w[r * dim + d]).toBe(Math.fround(Math.fround(scale * code) + bias));
    }
  }
  q.dispose();
});
