/**
 * Seeded random malformed input for the public API: KJTs (keys, typed arrays of any type and
 * length, negative and huge ids, NaN weights, broken offsets, arrays mutated after the KJT was
 * built) and constructor configs (wrong types, unknown fields, absurd table sizes). Each case must
 * either succeed, with an output of the right shape, or end in a TorchrecError with a documented
 * code. Free of jest, so that a child process can run it too (fuzz_child.js).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, KeyedTensor, LargeEmbeddings, TorchrecError } from '../../lib';
import { DOCUMENTED_CODES, randomBatch, Rng } from './reliability';

export interface FuzzReport {
  seed: number;
  cases: number;
  succeeded: number;
  codes: Record<string, number>;
  /** One line per case that crashed into something other than a documented TorchrecError. */
  failures: string[];
}

type Any = unknown;
const NAMES = ['t0', 't1', 'user', 'item', 'f', 'a b', 'ü', '@x'];

function idArray(rng: Rng, xs: number[]): Any {
  switch (rng.int(0, 9)) {
    case 0: return xs; // number[]
    case 1: return BigInt64Array.from(xs, (x) => BigInt(Number.isFinite(x) ? Math.trunc(x) : 0));
    case 2: return rng.pick([Float32Array, Float64Array, Uint32Array, Int16Array, Uint8Array]).from(xs);
    case 3: return rng.pick([null, undefined, 'ids', 42, {}, new BigUint64Array(xs.length), [1n]]);
    default: return Int32Array.from(xs);
  }
}

function badId(rng: Rng, rows: number): number {
  return rng.pick([-1, rows, rows + 1, -2147483648, 2147483647, 2 ** 40, -(2 ** 40), 1.5, NaN]);
}

/** Keys, values, lengths and weights of a random KJT for `features`, usually almost right. */
function kjtParts(rng: Rng, features: string[], rows: Record<string, number>) {
  let keys: Any[] = features.filter(() => rng.chance(0.9));
  if (rng.chance(0.3)) keys.push(rng.pick(NAMES));
  if (rng.chance(0.05)) keys.push(rng.pick([keys[0], 3, '', null]));
  keys = keys.sort(() => rng.next() - 0.5);
  const B = rng.pick([0, 1, 2, 3, 5, 8]);
  const lengths: number[] = [];
  const values: number[] = [];
  for (const k of keys) {
    for (let b = 0; b < B; b++) {
      const len = rng.int(0, 4);
      lengths.push(len);
      const n = typeof k === 'string' ? (rows[k] ?? 1000) : 1000;
      for (let i = 0; i < len; i++) values.push(rng.chance(0.02) ? badId(rng, n) : rng.int(0, n - 1));
    }
  }
  if (rng.chance(0.05) && lengths.length > 0) lengths[rng.int(0, lengths.length - 1)] += rng.pick([-1, 1, -100, 2 ** 31]);
  if (rng.chance(0.05)) lengths.push(rng.int(0, 2));
  if (rng.chance(0.03)) values.push(0);
  let weights: Any = rng.chance(0.5) ? Float32Array.from(values, () => rng.int(-16, 16) / 4) : undefined;
  if (weights && rng.chance(0.1)) (weights as Float32Array)[rng.int(0, values.length)] = rng.pick([NaN, Infinity, -Infinity]);
  if (rng.chance(0.05)) weights = rng.pick([new Float32Array(values.length + 1), new Float64Array(values.length), ['x'], null, Array.from(values)]);
  return { keys, values, lengths, weights, stride: rng.chance(0.05) ? rng.pick([B, B + 1, -1, 1.5, 'x', null]) : undefined };
}

function offsetsOf(rng: Rng, lengths: number[]): number[] {
  const off = [0];
  for (const l of lengths) off.push(off[off.length - 1] + l);
  if (rng.chance(0.05)) off[0] = 1;
  if (rng.chance(0.05) && off.length > 2) [off[1], off[2]] = [off[2] + 1, off[1]];
  return off;
}

/** Overwrites a random entry of a typed array the KJT holds, after it was validated. */
function scribble(rng: Rng, kjt: KeyedJaggedTensor): void {
  const target = rng.pick([kjt.values(), kjt.lengths(), kjt.offsets(), kjt.weights()]);
  if (!target || target.length === 0) return;
  const i = rng.int(0, target.length - 1);
  const v = rng.pick([-1, 1000000, 7, 0]);
  if (target instanceof BigInt64Array) target[i] = BigInt(v);
  else if (target instanceof Float32Array) target[i] = rng.chance(0.5) ? NaN : v;
  else (target as Int32Array)[i] = v;
}

function randomTable(rng: Rng, i: number, sane: boolean): Record<string, Any> {
  const rows = rng.int(1, 40);
  const t: Record<string, Any> = { name: `t${i}`, num_embeddings: rows, embedding_dim: rng.int(1, 8) };
  if (rng.chance(0.4)) t.feature_names = Array.from({ length: rng.int(0, 3) }, () => rng.pick(['f', 'g', 'h', `t${i}`]));
  if (rng.chance(0.3)) t.pooling = rng.pick(['SUM', 'MEAN', 'mean']);
  if (rng.chance(0.3)) t.data_type = rng.pick(['fp32', 'fp16', 'FP16']);
  if (sane) {
    if (Array.isArray(t.feature_names)) t.feature_names = [...new Set(t.feature_names as string[])];
    return t;
  }
  const wrong: Any[] = [null, '10', -1, 0, 1.5, NaN, Infinity, 2 ** 53, 2 ** 46, 'x', [], {}, true];
  for (let m = rng.int(0, 2); m > 0; m--) {
    const field = rng.pick(['name', 'num_embeddings', 'embedding_dim', 'data_type', 'pooling', 'feature_names',
      'weight_init_min', 'weight_init_max', 'optimizer', 'pretrained', 'vocab', 'num_embedings', 'dim', 'Pooling']);
    if (rng.chance(0.2)) delete t[field];
    else t[field] = rng.pick(wrong);
  }
  return t;
}

function randomOptions(rng: Rng, sane: boolean): Any {
  const tables: Any[] = Array.from({ length: rng.int(1, 3) }, (_, i) => randomTable(rng, i, sane || rng.chance(0.5)));
  const o: Record<string, Any> = { tables, seed: rng.int(0, 1000) };
  if (rng.chance(0.3)) o.isWeighted = sane ? rng.chance(0.5) : rng.pick([true, false, 'yes', 1]);
  if (sane) {
    if (o.isWeighted) tables.forEach((t) => delete (t as Record<string, Any>).pooling);
    return o;
  }
  switch (rng.int(0, 9)) {
    case 0: return rng.pick([null, undefined, 42, 'x', [], true, () => o]);
    case 1: o.tables = rng.pick(['x', [], [null], [42], {}, null]); break;
    case 2: o[rng.pick(['isWieghted', 'Tables', 'devices', 'extra'])] = 1; break;
    case 3: o.device = rng.pick(['cpu', 'cuda', 'cuda:1', 'tpu', 42, '']); break;
    case 4: o.seed = rng.pick([-1, 1.5, 'x', 2 ** 53, null]); break;
    case 5: o.optimizer = rng.pick([{}, { init_learning_rate: 'x' }, 5, { init_learning_rate: 0.1 }]); break;
    case 6: tables.push(tables[0]); break;
    default: break;
  }
  return o;
}

export async function fuzz(seed: number, cases: number): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const report: FuzzReport = { seed, cases, succeeded: 0, codes: {}, failures: [] };
  const pool: { ebc: EmbeddingBagCollection; features: string[]; rows: Record<string, number> }[] = [];
  while (pool.length < 6) {
    try {
      const o = randomOptions(rng, true) as { tables: Record<string, Any>[] };
      const ebc = new EmbeddingBagCollection(o as never);
      const rows: Record<string, number> = {};
      const features = ebc.tables.flatMap((t) => t.feature_names ?? [t.name]);
      ebc.tables.forEach((t) => (t.feature_names ?? [t.name]).forEach((f) => (rows[f] = Math.min(rows[f] ?? Infinity, t.num_embeddings))));
      pool.push({ ebc, features: [...new Set(features)], rows });
    } catch {
      // a sane config can still pick e.g. MEAN twice over shared names; try again
    }
  }

  const check = (what: string, outcome: { value?: Any; error?: Any }, expect?: (v: Any) => string | null) => {
    if ('error' in outcome) {
      const e = outcome.error as TorchrecError;
      const ok = e instanceof TorchrecError && DOCUMENTED_CODES.includes(e.code) && typeof e.message === 'string' &&
        e.message.length > 0 && !/Exception raised from|c10::/.test(e.message);
      if (ok) report.codes[e.code] = (report.codes[e.code] ?? 0) + 1;
      else report.failures.push(`${what}: ${e instanceof Error ? `${e.name} ${(e as TorchrecError).code} ${e.message}` : String(e)}`);
      return;
    }
    const problem = expect ? expect(outcome.value) : null;
    if (problem) report.failures.push(`${what}: ${problem}`);
    else report.succeeded++;
  };
  const attempt = (f: () => Any): { value?: Any; error?: Any } => {
    try {
      return { value: f() };
    } catch (error) {
      return { error };
    }
  };
  // Outputs must be finite (an unwritten output element would show as garbage), except where the
  // config asked for init bounds beyond fp16's range (65504) on an fp16 table: those rows are inf,
  // as in TorchRec.
  const finiteInit = (ebc: EmbeddingBagCollection) =>
    ebc.tables.every((t) => t.data_type !== 'fp16' || Math.max(Math.abs(t.weight_init_min ?? 0), Math.abs(t.weight_init_max ?? 0)) <= 65504);
  const shapeOf = (ebc: EmbeddingBagCollection, stride: number) => (v: Any) => {
    const kt = v as KeyedTensor;
    const width = kt.lengthPerKey().reduce((a, b) => a + b, 0);
    if (kt.values().length !== stride * width) return `output has ${kt.values().length} floats, expected ${stride} x ${width}`;
    if (kt.keys().join() !== ebc.outputKeys().join()) return `keys ${kt.keys()} vs ${ebc.outputKeys()}`;
    return !finiteInit(ebc) || kt.values().every(Number.isFinite) ? null : 'non-finite output';
  };

  let inFlight: Promise<void>[] = [];
  for (let c = 0; c < cases; c++) {
    const what = `seed ${seed} case ${c}`;
    if (rng.chance(0.3)) {
      const o = randomOptions(rng, rng.chance(0.2));
      // LargeEmbeddings takes the tables (and optimizer) in its config and the rest as options.
      const large = rng.chance(0.2) && typeof o === 'object' && o !== null && !Array.isArray(o);
      const made = attempt(() => {
        if (!large) return new EmbeddingBagCollection(o as never);
        const { tables, optimizer, seed, device } = o as Record<string, Any>;
        return new LargeEmbeddings({ tables, ...(optimizer === undefined ? {} : { optimizer }) }, { seed, device } as never).ebc;
      });
      if ('error' in made) {
        check(`${what} config ${safeJson(o)}`, made);
        continue;
      }
      const ebc = made.value as EmbeddingBagCollection;
      const rowsOf: Record<string, number> = {};
      ebc.tables.forEach((t) => (t.feature_names ?? [t.name]).forEach((f) => (rowsOf[f] = Math.min(rowsOf[f] ?? Infinity, t.num_embeddings))));
      const batch = randomBatch(rng, Object.keys(rowsOf), rowsOf, 3, 3);
      const kjt = KeyedJaggedTensor.fromLengths(batch);
      check(`${what} config+forward ${safeJson(o)}`, attempt(() => ebc.forwardSync(kjt)), shapeOf(ebc, 3));
      ebc.dispose();
      continue;
    }
    const { ebc, features, rows } = rng.pick(pool);
    const p = kjtParts(rng, features, rows);
    const layout = rng.chance(0.5) ? 'lengths' : 'offsets';
    const built = attempt(() =>
      layout === 'lengths'
        ? KeyedJaggedTensor.fromLengths({ keys: p.keys, values: idArray(rng, p.values), lengths: idArray(rng, p.lengths), weights: p.weights, stride: p.stride } as never)
        : KeyedJaggedTensor.fromOffsets({ keys: p.keys, values: idArray(rng, p.values), offsets: idArray(rng, offsetsOf(rng, p.lengths)), weights: p.weights, stride: p.stride } as never),
    );
    if ('error' in built) {
      check(`${what} ${layout} KJT ${safeJson(p)}`, built);
      continue;
    }
    const kjt = rng.chance(0.02) ? (rng.pick([null, {}, 'kjt', p]) as never) : (built.value as KeyedJaggedTensor);
    if (rng.chance(0.1) && kjt instanceof KeyedJaggedTensor) scribble(rng, kjt);
    const stride = kjt instanceof KeyedJaggedTensor ? kjt.stride() : 0;
    if (rng.chance(0.5)) {
      check(`${what} forwardSync ${safeJson(p)}`, attempt(() => ebc.forwardSync(kjt)), shapeOf(ebc, stride));
    } else {
      const started = attempt(() => ebc.forward(kjt));
      if ('error' in started) {
        report.failures.push(`${what} forward threw synchronously instead of rejecting: ${String(started.error)}`);
        continue;
      }
      inFlight.push(
        (started.value as Promise<KeyedTensor>).then(
          (value) => check(`${what} forward ${safeJson(p)}`, { value }, shapeOf(ebc, stride)),
          (error) => check(`${what} forward ${safeJson(p)}`, { error }),
        ),
      );
      if (rng.chance(0.1) && kjt instanceof KeyedJaggedTensor) scribble(rng, kjt);
      if (inFlight.length >= 32) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
  }
  await Promise.all(inFlight);
  pool.forEach((e) => e.ebc.dispose());
  return report;
}

function safeJson(x: Any): string {
  try {
    const s = JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Number.isNaN(v) ? 'NaN' : v));
    return s === undefined ? String(x) : s.slice(0, 300);
  } catch {
    return '(unprintable)';
  }
}
