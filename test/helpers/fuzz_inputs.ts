/**
 * The random inputs of fuzz.ts: KJT parts that are usually almost right (a few ids out of range,
 * a length off by one, a key missing or repeated, a weight NaN, arrays of the wrong type), and
 * constructor options built from a valid config with a few fields made wrong.
 */
import { KeyedJaggedTensor } from '../../lib';
import { Rng } from './random';
import { randomBatch } from './random_batch';

export type Any = unknown;
const NAMES = ['t0', 't1', 'user', 'item', 'f', 'a b', 'ü', '@x'];

export function idArray(rng: Rng, xs: number[]): Any {
  switch (rng.int(0, 9)) {
    case 0:
      return xs; // number[]
    case 1:
      return BigInt64Array.from(xs, (x) => BigInt(Number.isFinite(x) ? Math.trunc(x) : 0));
    case 2:
      return rng.pick([Float32Array, Float64Array, Uint32Array, Int16Array, Uint8Array]).from(xs);
    case 3:
      return rng.pick([null, undefined, 'ids', 42, {}, new BigUint64Array(xs.length), [1n]]);
    default:
      return Int32Array.from(xs);
  }
}

function badId(rng: Rng, rows: number): number {
  return rng.pick([-1, rows, rows + 1, -2147483648, 2147483647, 2 ** 40, -(2 ** 40), 1.5, NaN]);
}

/** Keys, values, lengths and weights of a random KJT for `features`, usually almost right. */
export function kjtParts(rng: Rng, features: string[], rows: Record<string, number>) {
  let keys: Any[] = features.filter(() => rng.chance(0.9));
  if (rng.chance(0.3)) keys.push(rng.pick(NAMES));
  if (rng.chance(0.05)) keys.push(rng.pick([keys[0], 3, '', null]));
  keys = keys.sort(() => rng.next() - 0.5);
  const B = rng.pick([0, 1, 2, 3, 5, 8]);
  // A key that reads no table (a stray name, a number, null) gets ids in [0, 1000).
  const rowsOf: Record<string, number> = {};
  for (const k of keys) rowsOf[String(k)] = (typeof k === 'string' ? rows[k] : undefined) ?? 1000;
  const weight = rng.chance(0.5) ? (g: Rng) => g.int(-16, 16) / 4 : undefined;
  const {
    lengths,
    values,
    weights: w,
  } = randomBatch(rng, {
    keys: keys.map(String),
    rows: rowsOf,
    batch: B,
    length: 4,
    weight,
    badIds: { chance: 0.02, id: badId },
  });
  if (rng.chance(0.05) && lengths.length > 0)
    lengths[rng.int(0, lengths.length - 1)] += rng.pick([-1, 1, -100, 2 ** 31]);
  if (rng.chance(0.05)) lengths.push(rng.int(0, 2));
  // One value too many (its weight too, so that only the lengths disagree).
  if (rng.chance(0.03)) {
    values.push(0);
    if (w && weight) w.push(weight(rng));
  }
  let weights: Any = w ? Float32Array.from(w) : undefined;
  if (weights && rng.chance(0.1))
    (weights as Float32Array)[rng.int(0, values.length)] = rng.pick([NaN, Infinity, -Infinity]);
  if (rng.chance(0.05))
    weights = rng.pick([
      new Float32Array(values.length + 1),
      new Float64Array(values.length),
      ['x'],
      null,
      Array.from(values),
    ]);
  return {
    keys,
    values,
    lengths,
    weights,
    stride: rng.chance(0.05) ? rng.pick([B, B + 1, -1, 1.5, 'x', null]) : undefined,
  };
}

export function offsetsOf(rng: Rng, lengths: number[]): number[] {
  const off = [0];
  for (const l of lengths) off.push(off[off.length - 1] + l);
  if (rng.chance(0.05)) off[0] = 1;
  if (rng.chance(0.05) && off.length > 2) [off[1], off[2]] = [off[2] + 1, off[1]];
  return off;
}

/** Overwrites a random entry of a typed array the KJT holds, after it was validated. */
export function scribble(rng: Rng, kjt: KeyedJaggedTensor): void {
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
  if (rng.chance(0.4))
    t.feature_names = Array.from({ length: rng.int(0, 3) }, () => rng.pick(['f', 'g', 'h', `t${i}`]));
  if (rng.chance(0.3)) t.pooling = rng.pick(['SUM', 'MEAN', 'mean']);
  if (rng.chance(0.3)) t.data_type = rng.pick(['fp32', 'fp16', 'FP16']);
  if (sane) {
    if (Array.isArray(t.feature_names)) t.feature_names = [...new Set(t.feature_names as string[])];
    return t;
  }
  const wrong: Any[] = [null, '10', -1, 0, 1.5, NaN, Infinity, 2 ** 53, 2 ** 46, 'x', [], {}, true];
  for (let m = rng.int(0, 2); m > 0; m--) {
    const field = rng.pick([
      'name',
      'num_embeddings',
      'embedding_dim',
      'data_type',
      'pooling',
      'feature_names',
      'weight_init_min',
      'weight_init_max',
      'optimizer',
      'pretrained',
      'vocab',
      'num_embedings',
      'dim',
      'Pooling',
    ]);
    if (rng.chance(0.2)) delete t[field];
    else t[field] = rng.pick(wrong);
  }
  return t;
}

export function randomOptions(rng: Rng, sane: boolean): Any {
  const tables: Any[] = Array.from({ length: rng.int(1, 3) }, (_, i) => randomTable(rng, i, sane || rng.chance(0.5)));
  const o: Record<string, Any> = { tables, seed: rng.int(0, 1000) };
  if (rng.chance(0.3)) o.isWeighted = sane ? rng.chance(0.5) : rng.pick([true, false, 'yes', 1]);
  if (sane) {
    if (o.isWeighted) tables.forEach((t) => delete (t as Record<string, Any>).pooling);
    return o;
  }
  switch (rng.int(0, 9)) {
    case 0:
      return rng.pick([null, undefined, 42, 'x', [], true, () => o]);
    case 1:
      o.tables = rng.pick(['x', [], [null], [42], {}, null]);
      break;
    case 2:
      o[rng.pick(['isWieghted', 'Tables', 'devices', 'extra'])] = 1;
      break;
    case 3:
      o.device = rng.pick(['cpu', 'cuda', 'cuda:1', 'tpu', 42, '']);
      break;
    case 4:
      o.seed = rng.pick([-1, 1.5, 'x', 2 ** 53, null]);
      break;
    case 5:
      o.optimizer = rng.pick([{}, { init_learning_rate: 'x' }, 5, { init_learning_rate: 0.1 }]);
      break;
    case 6:
      tables.push(tables[0]);
      break;
    default:
      break;
  }
  return o;
}
