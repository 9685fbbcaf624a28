/**
 * The model side of the serving example: a TwHIN LargeEmbeddings restored with mmap from the newest
 * complete snapshot under the training job's save_dir (followSnapshots), plus the relation
 * translations the trainer keeps in `<save_dir>/<step>/trainer_state.json`. `run` answers a
 * micro-batch of queries with ONE forward: each query's user and tweets become rows of one KJT.
 * Scores are the demo's: dot(user + translation[relation], tweet) (examples/twhin/model.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { followSnapshots, KeyedJaggedTensor, LargeEmbeddings, SnapshotFollower } from '../../lib';
import { TRAINER_STATE } from '../../lib/train/snapshots';

export interface ServeSpec {
  saveDir: string;
  /** The TwHIN tables (user first, then tweet), as in the training config. */
  tables: { name: string; num_embeddings: number; embedding_dim: number; data_type: string }[];
  relations: string[];
  intervalMs?: number;
}

export type Query =
  { kind: 'embedding'; user: number } | { kind: 'score'; user: number; tweets: number[]; relation: number };

export type Answer = { step: number; embedding: number[] } | { step: number; scores: number[] };

export class ServingModel {
  readonly embeddings: LargeEmbeddings;
  readonly dim: number;
  translation: Float32Array;
  step = -1;
  private follower?: SnapshotFollower;
  /** The step whose translations were not written yet (the trainer writes them just after the snapshot). */
  private translationPending?: number;

  constructor(readonly spec: ServeSpec) {
    this.embeddings = new LargeEmbeddings({ tables: spec.tables });
    this.dim = spec.tables[0].embedding_dim;
    this.translation = new Float32Array(spec.relations.length * this.dim);
  }

  /** Follows save_dir; resolves once the first snapshot is served. */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.follower = followSnapshots(this.embeddings, this.spec.saveDir, {
        intervalMs: this.spec.intervalMs ?? 1000,
        mmap: true,
        onSwap: (step) => {
          this.translationPending = this.loadTranslation(step) ? undefined : step;
          this.step = step;
          resolve();
        },
      });
    });
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.embeddings.ebc.dispose();
  }

  /**
   * The translations saved with the snapshot of `step`; false (they stay as they were, and are
   * looked for again at the next batch) while trainer_state.json is not there.
   */
  private loadTranslation(step: number): boolean {
    try {
      const state = JSON.parse(fs.readFileSync(path.join(this.spec.saveDir, String(step), TRAINER_STATE), 'utf8'));
      const t = state?.extra?.translation;
      if (Array.isArray(t) && t.length === this.translation.length) this.translation = Float32Array.from(t);
      return true;
    } catch {
      return false;
    }
  }

  async run(queries: readonly Query[]): Promise<Answer[]> {
    if (this.translationPending !== undefined && this.loadTranslation(this.translationPending)) {
      this.translationPending = undefined;
    }
    const [lhs, rhs] = this.spec.tables.map((t) => t.name);
    const userRows: number[] = [];
    const tweetRows: number[] = [];
    // Row r of the batch is either a user (its lhs bag holds the id) or a tweet (its rhs bag does).
    const isUser: boolean[] = [];
    for (const q of queries) {
      userRows.push(q.user);
      isUser.push(true);
      if (q.kind === 'score') {
        for (const t of q.tweets) {
          tweetRows.push(t);
          isUser.push(false);
        }
      }
    }
    const lengths = [...isUser.map((u) => (u ? 1 : 0)), ...isUser.map((u) => (u ? 0 : 1))];
    const kjt = KeyedJaggedTensor.fromLengths({ keys: [lhs, rhs], values: [...userRows, ...tweetRows], lengths });
    const step = this.step;
    const kt = await this.embeddings.forward(kjt);
    const values = kt.values();
    const width = kt.lengthPerKey().reduce((a, b) => a + b, 0);
    const [userAt, tweetAt] = kt.offsetPerKey();
    const D = this.dim;
    const translation = this.translation;
    let row = 0;
    return queries.map((q) => {
      const u = values.subarray(row * width + userAt, row * width + userAt + D);
      row += 1;
      if (q.kind === 'embedding') return { step, embedding: Array.from(u) };
      const scores = q.tweets.map(() => {
        const t = values.subarray(row * width + tweetAt, row * width + tweetAt + D);
        row += 1;
        let s = 0;
        for (let d = 0; d < D; d++) s += (u[d] + translation[q.relation * D + d]) * t[d];
        return s;
      });
      return { step, scores };
    });
  }
}
