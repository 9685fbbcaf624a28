/**
 * The managed-id rules written once more, in TypeScript, straight from DESIGN.md "Managed ids"
 * (not from the C++): the tests drive it and the module with the same batches and compare resident
 * sets, row assignments and counters. Free rows are handed out lowest first (in forwards, and to the
 * winners of a pass in rank order), which is the one choice the contract leaves to the implementation.
 */
export type Policy = 'lfu' | 'lru' | 'distance_lfu';

interface Entry {
  id: bigint;
  count: number;
  last: number;
}

export interface RefStats {
  residents: number;
  waiting: number;
  admitted: number;
  evicted: number;
  defaultRowHits: number;
  waitingDropped: number;
}

export class ManagedIdsRef {
  readonly defaultRow: number;
  private rowOf = new Map<bigint, number>();
  private rows: (Entry | undefined)[];
  private waiting = new Map<bigint, Entry>();
  private counters = { admitted: 0, evicted: 0, defaultRowHits: 0, waitingDropped: 0 };

  constructor(
    numEmbeddings: number,
    readonly policy: Policy,
    readonly interval: number,
    readonly decay = 1,
    readonly maxWaiting = numEmbeddings,
  ) {
    this.defaultRow = numEmbeddings - 1;
    this.rows = new Array(numEmbeddings - 1).fill(undefined);
  }

  /** The row `id` reads without being counted (backward, EVALUATE, INFERENCE). */
  find(id: bigint): number {
    return this.rowOf.get(id) ?? this.defaultRow;
  }

  /** One occurrence in a TRAIN forward made when `step` steps had completed. */
  admit(id: bigint, step: number): number {
    const row = this.rowOf.get(id);
    if (row !== undefined) {
      const e = this.rows[row] as Entry;
      e.count++;
      e.last = step;
      return row;
    }
    const free = this.rows.findIndex((e) => e === undefined);
    if (free >= 0) {
      this.rows[free] = { id, count: 1, last: step };
      this.rowOf.set(id, free);
      this.counters.admitted++;
      return free;
    }
    this.counters.defaultRowHits++;
    const w = this.waiting.get(id);
    if (w) {
      w.count++;
      w.last = step;
    } else if (this.waiting.size < this.maxWaiting) {
      this.waiting.set(id, { id, count: 1, last: step });
    } else {
      this.counters.waitingDropped++;
    }
    return this.defaultRow;
  }

  /** After the backward that completed `step`; returns the rows that changed hands, ascending. */
  afterStep(step: number): number[] {
    if (step % this.interval !== 0) return [];
    const capacity = this.rows.length;
    const residents = this.rows.filter((e): e is Entry => e !== undefined);
    const all = [
      ...residents.map((e) => ({ e, resident: true })),
      ...[...this.waiting.values()].map((e) => ({ e, resident: false })),
    ];
    this.waiting.clear();
    if (all.length <= capacity) {
      // Everyone fits: waiting ids take free rows, lowest first, best first.
      const newcomers = all.filter((c) => !c.resident).sort((a, b) => this.compare(a.e, b.e, step));
      for (const c of newcomers) this.place(c.e);
      return [];
    }
    all.sort((a, b) => this.compare(a.e, b.e, step));
    const winners = all.slice(0, capacity);
    const losers = all.slice(capacity);
    const changed: number[] = [];
    for (const c of losers) {
      if (!c.resident) continue;
      const row = this.rowOf.get(c.e.id) as number;
      this.rows[row] = undefined;
      this.rowOf.delete(c.e.id);
      changed.push(row);
      this.counters.evicted++;
    }
    for (const c of winners) if (!c.resident) this.place(c.e);
    return changed.sort((a, b) => a - b);
  }

  residents(): Map<bigint, number> {
    return new Map(this.rowOf);
  }

  stats(): RefStats {
    return { residents: this.rowOf.size, waiting: this.waiting.size, ...this.counters };
  }

  private place(e: Entry): void {
    const free = this.rows.findIndex((x) => x === undefined);
    this.rows[free] = e;
    this.rowOf.set(e.id, free);
    this.counters.admitted++;
  }

  /** Negative when a ranks before b: the policy's score, higher first; ties to the lower raw id. */
  private compare(a: Entry, b: Entry, step: number): number {
    const sa = this.score(a, step);
    const sb = this.score(b, step);
    if (sa !== sb) return sb - sa;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  private score(e: Entry, step: number): number {
    if (this.policy === 'lfu') return e.count;
    if (this.policy === 'lru') return e.last;
    return e.count / Math.pow(Math.max(step - e.last, 0) + 1, this.decay);
  }
}
