/**
 * "Did you mean" hints for misspelled field and table names. A typo in a YAML key is the most common
 * config mistake, and the-algorithm-ml's pydantic error ("extra fields not permitted") does not say
 * what was meant.
 */

/**
 * Edit distance counting insert, delete, substitute and swap of two adjacent characters as one
 * edit each (optimal string alignment). Swaps matter: "sdg" for "sgd" is the typical typo.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // rows[i][j] = distance between a[0..i) and b[0..j)
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length][b.length];
}

/**
 * The candidate `word` most likely meant, or undefined when nothing is close. A case-insensitive
 * match wins outright (TorchRec-style JSON capitalises differently); otherwise the nearest candidate
 * within distance 2, tightened for short words so that e.g. "x" does not suggest "lr".
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const sameCase = candidates.find((c) => c.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  // Very long keys are not typos of short field names; skip the quadratic work on them.
  if (word.length > 64) return undefined;
  const limit = Math.max(1, Math.min(2, Math.floor(word.length / 2)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` or the empty string, ready to append to a message. */
export function hint(word: string, candidates: readonly string[]): string {
  const guess = didYouMean(word, candidates);
  return guess === undefined ? '' : ` (did you mean ${JSON.stringify(guess)}?)`;
}
