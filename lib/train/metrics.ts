/**
 * Ranking metrics for link prediction and CTR-style evaluation, plus stratification: the
 * the-algorithm-ml pattern of reporting a metric both overall and over the rows whose discrete
 * feature `index` equals `value` (StratifierConfig).
 */
import type { StratifierConfig } from '../config/small_embedding';
import { TorchrecError } from '../errors';

function checkSameLength(what: string, a: ArrayLike<number>, b: ArrayLike<number>, an: string, bn: string): void {
  if (a.length !== b.length) {
    throw new TorchrecError('ERR_SHAPE', `${what}: ${an} has ${a.length} entries but ${bn} has ${b.length}`);
  }
}

/**
 * Area under the ROC curve: the probability that a random positive (label > 0.5) scores above a
 * random negative, ties counting one half (the Mann-Whitney statistic, as sklearn's roc_auc_score).
 * Optional per-row weights. NaN when either class is missing, since AUC is then undefined.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): number {
  checkSameLength('auc', scores, labels, 'scores', 'labels');
  if (weights) checkSameLength('auc', scores, weights, 'scores', 'weights');
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let negBelow = 0; // weight of negatives with strictly lower scores than the current tie group
  let sum = 0;
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    let groupPos = 0;
    let groupNeg = 0;
    // A tie group is scored together so that its internal pairs count one half each.
    while (j < order.length && scores[order[j]] === scores[order[i]]) {
      const r = order[j];
      const w = weights ? weights[r] : 1;
      if (labels[r] > 0.5) groupPos += w;
      else groupNeg += w;
      j++;
    }
    sum += groupPos * (negBelow + groupNeg / 2);
    negBelow += groupNeg;
    pos += groupPos;
    neg += groupNeg;
    i = j;
  }
  return pos > 0 && neg > 0 ? sum / (pos * neg) : NaN;
}

/**
 * Mean reciprocal rank of each positive among its own negatives: positive i competes with
 * negScores[i * k .. i * k + k). Ties rank the positive below the negative (pessimistic), so a model
 * that scores everything equal gets 1/(k+1), not 1.
 */
export function mrr(posScores: ArrayLike<number>, negScores: ArrayLike<number>, k: number): number {
  if (!Number.isSafeInteger(k) || k < 0 || negScores.length !== posScores.length * k) {
    throw new TorchrecError(
      'ERR_SHAPE',
      `mrr: negScores must hold k=${k} negatives per positive (${posScores.length * k}), got ${negScores.length}`,
    );
  }
  if (posScores.length === 0) return NaN;
  let total = 0;
  for (let i = 0; i < posScores.length; i++) {
    let rank = 1;
    for (let j = i * k; j < (i + 1) * k; j++) if (negScores[j] >= posScores[i]) rank++;
    total += 1 / rank;
  }
  return total / posScores.length;
}

/**
 * `compute` over all rows (key `all`) and over each stratifier's rows (key = its name). `discrete`
 * holds each row's discrete features; a stratum without rows gives NaN rather than a made-up value.
 */
export function stratified(
  rowCount: number,
  discrete: (row: number, index: number) => number,
  stratifiers: readonly StratifierConfig[],
  compute: (rows: number[]) => number,
): Record<string, number> {
  const all = Array.from({ length: rowCount }, (_, i) => i);
  const out: Record<string, number> = { all: compute(all) };
  for (const s of stratifiers) {
    const rows = all.filter((r) => discrete(r, s.index) === s.value);
    out[s.name] = rows.length > 0 ? compute(rows) : NaN;
  }
  return out;
}

/** Picks entries `rows` of `xs` (for feeding a stratum into auc/mrr). */
export function pick(xs: ArrayLike<number>, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length);
  rows.forEach((r, i) => (out[i] = xs[r]));
  return out;
}
