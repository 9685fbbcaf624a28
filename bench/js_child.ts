/**
 * Child process of the bench: the plain-JS loop, i.e. what a Node program does without this library.
 * Tables are typed arrays (Float32Array; fp16 tables as Uint16Array bits widened through a 64 Ki-entry
 * lookup table, since JS has no float16), one thread, the same ids, sums in float64, stored as float32.
 */
import {
  BenchConfig,
  ChildResult,
  Timing,
  Variants,
  childArgument,
  measured,
  memoryKb,
  readIds,
  timeSync,
} from './common';

interface JsJob {
  config: BenchConfig;
  variants: Variants;
  timing: Timing;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function main(): void {
  const job = childArgument<JsJob>();
  const c = job.config;
  const { tables: T, rows: N, dim: D, batch: B, pooling: L } = c;
  const half = c.dtype === 'fp16';
  // Pseudo-random small values; a 1 Mi-element pattern copied over the table keeps set-up fast.
  const pattern = new Float32Array(1 << 20);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (((i * 0.6180339887) % 1) - 0.5) * 0.02;
  const widen = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) widen[h] = halfToFloat(h);
  const halfPattern = new Uint16Array(pattern.length);
  for (let i = 0; i < pattern.length; i++) halfPattern[i] = (Math.round(pattern[i] * 1e4) & 0x3ff) | 0x1c00;
  const tablesF32: Float32Array[] = [];
  const tablesF16: Uint16Array[] = [];
  for (let t = 0; t < T; t++) {
    const n = N * D;
    if (half) {
      const w = new Uint16Array(n);
      for (let o = 0; o < n; o += halfPattern.length)
        w.set(halfPattern.subarray(0, Math.min(halfPattern.length, n - o)), o);
      tablesF16.push(w);
    } else {
      const w = new Float32Array(n);
      for (let o = 0; o < n; o += pattern.length) w.set(pattern.subarray(0, Math.min(pattern.length, n - o)), o);
      tablesF32.push(w);
    }
  }
  const afterInit = memoryKb();
  const width = T * D;
  const acc = new Float64Array(D);

  const forward = (ids: BigInt64Array): Float32Array => {
    const out = new Float32Array(B * width);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        acc.fill(0);
        const first = (t * B + b) * L;
        for (let j = 0; j < L; j++) {
          const row = Number(ids[first + j]) * D;
          if (half) {
            const w = tablesF16[t];
            for (let d = 0; d < D; d++) acc[d] += widen[w[row + d]];
          } else {
            const w = tablesF32[t];
            for (let d = 0; d < D; d++) acc[d] += w[row + d];
          }
        }
        out.set(acc, b * width + t * D);
      }
    }
    return out;
  };

  const variants: ChildResult['variants'] = {};
  const count = T * B * L;
  for (const [name, files] of Object.entries(job.variants)) {
    const batches = files.map((f) => readIds(f, count));
    variants[name] = measured(timeSync(job.timing, (i) => forward(batches[i % batches.length])));
  }
  const mem = memoryKb();
  const out: ChildResult = {
    impl: 'js',
    variants,
    peak_rss_kb: mem.peak,
    rss_kb: mem.rss,
    rss_after_init_kb: afterInit.rss,
    threads: 1,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
