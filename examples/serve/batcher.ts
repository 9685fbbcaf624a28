/**
 * Micro-batching: concurrent requests are gathered into one batch, sent when it holds `maxBatch`
 * queries or `maxWaitMs` after its first query arrived, whichever comes first, so one forward
 * serves them all. The wait bounds the latency it adds.
 */
export class MicroBatcher<Q, A> {
  private pending: { query: Q; resolve: (a: A) => void; reject: (e: Error) => void }[] = [];
  private timer?: NodeJS.Timeout;
  /** Batches sent so far and the queries they held (for the stats route and the benchmark). */
  batches = 0;
  queries = 0;

  constructor(
    private readonly run: (queries: Q[]) => Promise<A[]>,
    private readonly maxBatch = 256,
    private readonly maxWaitMs = 1,
  ) {}

  submit(query: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.pending.push({ query, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0) this.timer = setTimeout(() => this.flush(), this.maxWaitMs);
    if (batch.length === 0) return;
    this.batches += 1;
    this.queries += batch.length;
    this.run(batch.map((b) => b.query)).then(
      (answers) => batch.forEach((b, i) => b.resolve(answers[i])),
      (e: Error) => batch.forEach((b) => b.reject(e)),
    );
  }
}
