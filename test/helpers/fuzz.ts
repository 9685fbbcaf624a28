/**
 * Seeded random malformed input for the public API: KJTs (keys, typed arrays of any type and
 * length, negative and huge ids, NaN weights, broken offsets, arrays mutated after the KJT was
 * built) and constructor configs (wrong types, unknown fields, absurd table sizes). Each case must
 * either succeed, with an output of the right shape, or end in a TorchrecError with a documented
 * code. Free of jest, so that a child process can run it too (fuzz_child.js).
 */
import { EmbeddingBagCollection, KeyedJaggedTensor, KeyedTensor, LargeEmbeddings, TorchrecError } from '../../lib';
import { Any, idArray, kjtParts, offsetsOf, randomOptions, scribble } from './fuzz_inputs';
import { DOCUMENTED_CODES } from './errors';
import { Rng } from './random';
import { randomBatch } from './random_batch';

export interface FuzzReport {
  seed: number;
  cases: number;
  succeeded: number;
  codes: Record<string, number>;
  /** One line per case that crashed into something other than a documented TorchrecError. */
  failures: string[];
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
      ebc.tables.forEach((t) =>
        (t.feature_names ?? [t.name]).forEach((f) => (rows[f] = Math.min(rows[f] ?? Infinity, t.num_embeddings))),
      );
      pool.push({ ebc, features: [...new Set(features)], rows });
    } catch {
      // a sane config can still pick e.g. MEAN twice over shared names; try again
    }
  }

  const check = (what: string, outcome: { value?: Any; error?: Any }, expect?: (v: Any) => string | null) => {
    if ('error' in outcome) {
      const e = outcome.error as TorchrecError;
      const ok =
        e instanceof TorchrecError &&
        DOCUMENTED_CODES.includes(e.code) &&
        typeof e.message === 'string' &&
        e.message.length > 0 &&
        !/Exception raised from|c10::/.test(e.message);
      if (ok) report.codes[e.code] = (report.codes[e.code] ?? 0) + 1;
      else
        report.failures.push(
          `${what}: ${e instanceof Error ? `${e.name} ${(e as TorchrecError).code} ${e.message}` : String(e)}`,
        );
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
    ebc.tables.every(
      (t) =>
        t.data_type !== 'fp16' || Math.max(Math.abs(t.weight_init_min ?? 0), Math.abs(t.weight_init_max ?? 0)) <= 65504,
    );
  const shapeOf = (ebc: EmbeddingBagCollection, stride: number) => (v: Any) => {
    const kt = v as KeyedTensor;
    const width = kt.lengthPerKey().reduce((a, b) => a + b, 0);
    if (kt.values().length !== stride * width)
      return `output has ${kt.values().length} floats, expected ${stride} x ${width}`;
    if (kt.keys().join() !== ebc.outputKeys().join()) return `keys ${kt.keys()} vs ${ebc.outputKeys()}`;
    if (finiteInit(ebc) && !kt.values().every(Number.isFinite)) return 'non-finite output';
    // Rows within [-1, 1], at most 5 ids a bag, |weight| <= 4 (1e6 if scribbled): anything beyond 1e9
    // is memory the kernel never wrote (fuzz_child.js runs with MALLOC_PERTURB_ to make that visible).
    const small = ebc.tables.every(
      (t) => Math.max(Math.abs(t.weight_init_min ?? 0), Math.abs(t.weight_init_max ?? 0)) <= 1,
    );
    if (small && kt.values().some((x) => Math.abs(x) > 1e9))
      return `output value ${kt.values().find((x) => Math.abs(x) > 1e9)} was never written`;
    return null;
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
        return new LargeEmbeddings({ tables, ...(optimizer === undefined ? {} : { optimizer }) }, {
          seed,
          device,
        } as never).ebc;
      });
      if ('error' in made) {
        check(`${what} config ${safeJson(o)}`, made);
        continue;
      }
      const ebc = made.value as EmbeddingBagCollection;
      const rowsOf: Record<string, number> = {};
      ebc.tables.forEach((t) =>
        (t.feature_names ?? [t.name]).forEach((f) => (rowsOf[f] = Math.min(rowsOf[f] ?? Infinity, t.num_embeddings))),
      );
      const batch = randomBatch(rng, {
        keys: Object.keys(rowsOf),
        rows: rowsOf,
        batch: 3,
        length: 3,
        weight: (g) => g.int(-8, 8) / 4,
      });
      const kjt = KeyedJaggedTensor.fromLengths(batch);
      check(
        `${what} config+forward ${safeJson(o)}`,
        attempt(() => ebc.forwardSync(kjt)),
        shapeOf(ebc, 3),
      );
      ebc.dispose();
      continue;
    }
    const { ebc, features, rows } = rng.pick(pool);
    const p = kjtParts(rng, features, rows);
    const layout = rng.chance(0.5) ? 'lengths' : 'offsets';
    const built = attempt(() =>
      layout === 'lengths'
        ? KeyedJaggedTensor.fromLengths({
            keys: p.keys,
            values: idArray(rng, p.values),
            lengths: idArray(rng, p.lengths),
            weights: p.weights,
            stride: p.stride,
          } as never)
        : KeyedJaggedTensor.fromOffsets({
            keys: p.keys,
            values: idArray(rng, p.values),
            offsets: idArray(rng, offsetsOf(rng, p.lengths)),
            weights: p.weights,
            stride: p.stride,
          } as never),
    );
    if ('error' in built) {
      check(`${what} ${layout} KJT ${safeJson(p)}`, built);
      continue;
    }
    const kjt = rng.chance(0.02) ? (rng.pick([null, {}, 'kjt', p]) as never) : (built.value as KeyedJaggedTensor);
    if (rng.chance(0.1) && kjt instanceof KeyedJaggedTensor) scribble(rng, kjt);
    const stride = kjt instanceof KeyedJaggedTensor ? kjt.stride() : 0;
    if (rng.chance(0.5)) {
      check(
        `${what} forwardSync ${safeJson(p)}`,
        attempt(() => ebc.forwardSync(kjt)),
        shapeOf(ebc, stride),
      );
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
