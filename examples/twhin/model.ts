/**
 * TwHIN (the-algorithm-ml's projects/twhin/models/models.py) over LargeEmbeddings: an edge
 * (lhs, rel, rhs) scores dot(lhs_emb + translation[rel], rhs_emb); each positive gets
 * `in_batch_negatives` negatives per side by pairing it with other edges of its relation in the
 * batch. The loss is BCE with logits, negatives weighted so that the positives and negatives each
 * weigh the same in total. Gradients w.r.t. the pooled embeddings are computed here and handed to
 * LargeEmbeddings.backward, whose fused per-table optimizers update the tables; the small dense
 * translation table is trained here with SGD. Two deliberate departures from models.py: negatives
 * get label 0 (models.py labels them 1, which cannot teach ranking) and include the translation, so
 * that training and evaluation score an edge the same way.
 */
import { computeLearningRate, LargeEmbeddings, Mode, StratifierConfig, auc, mrr, pick, stratified } from '../../lib';
import type { ExtraState, ProcessGroup, ShardingPlan } from '../../lib';
import type { TwhinDataConfig, TwhinModelConfig } from './config';
import { Edges, nodesKjt, permutation, rng } from './data';

interface Batch {
  /** Edge index into Edges for each batch row. */
  idx: Int32Array;
  rel: Int32Array;
  /** [B][D] pooled lhs and rhs embeddings. */
  lhs: Float32Array;
  rhs: Float32Array;
}

/** Each negative: which batch row's lhs and rhs it pairs, under the relation of `row`. */
interface Pairs {
  lhsRow: Int32Array;
  rhsRow: Int32Array;
  relRow: Int32Array;
}

/**
 * Training on several ranks: the tables are sharded across `processGroup` by `plan`; each rank trains
 * on its own slice of every global batch (data parallel, in-batch negatives drawn within the slice),
 * and the translation's gradient is averaged over the ranks, as DDP averages dense gradients.
 */
export interface TwhinSharding {
  processGroup: ProcessGroup;
  plan?: ShardingPlan;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
// log(1 + e^-|z|) + max(z, 0) - z*y, stable for large |z|.
const bce = (z: number, y: number): number => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));

export class TwhinModel implements ExtraState {
  readonly embeddings: LargeEmbeddings;
  readonly dim: number;
  /** [num_relations][dim], uniform(0, 1) at start like models.py's all_trans_embs. */
  readonly translation: Float32Array;
  private translationSteps = 0;

  constructor(
    readonly config: TwhinModelConfig,
    readonly data: TwhinDataConfig,
    seed = 0,
    readonly sharding?: TwhinSharding,
  ) {
    this.embeddings = new LargeEmbeddings(config.embeddings, { seed, ...sharding });
    this.dim = config.embeddings.tables[0].embedding_dim;
    const random = rng(seed + 1);
    this.translation = Float32Array.from({ length: config.relations.length * this.dim }, () => random());
  }

  private async forward(edges: Edges, idx: Int32Array): Promise<{ batch: Batch; kjt: ReturnType<typeof nodesKjt> }> {
    const kjt = nodesKjt(edges, idx, this.config);
    const values = (await this.embeddings.forward(kjt)).values();
    const width = values.length / (2 * idx.length);
    const B = idx.length;
    const D = this.dim;
    const lhs = new Float32Array(B * D);
    const rhs = new Float32Array(B * D);
    // Each node row has an id in only its own table's block; summing the blocks picks it out.
    for (let r = 0; r < 2 * B; r++) {
      const out = r % 2 === 0 ? lhs : rhs;
      const o = (r >> 1) * D;
      for (let c = 0; c < width; c++) out[o + (c % D)] += values[r * width + c];
    }
    return { batch: { idx, rel: Int32Array.from(idx, (e) => edges.rel[e]), lhs, rhs }, kjt };
  }

  /** forward in EVALUATE mode: held-out ids must not be admitted to (or counted by) managed-id tables. */
  private async evalForward(edges: Edges, idx: Int32Array): Promise<{ batch: Batch }> {
    const ebc = this.embeddings.ebc;
    const mode = ebc.mode;
    ebc.setMode(Mode.EVALUATE);
    try {
      return await this.forward(edges, idx);
    } finally {
      ebc.setMode(mode);
    }
  }

  /** score(lhs of row a, rhs of row b) under relation r. */
  private score(b: Batch, a: number, c: number, r: number): number {
    const D = this.dim;
    let s = 0;
    for (let d = 0; d < D; d++) s += (b.lhs[a * D + d] + this.translation[r * D + d]) * b.rhs[c * D + d];
    return s;
  }

  private groups(b: Batch): Map<number, number[]> {
    const g = new Map<number, number[]>();
    b.rel.forEach((r, i) => (g.get(r) ?? g.set(r, []).get(r)!).push(i));
    return g;
  }

  /** models.py's sampling: per relation, N sampled rhs against every lhs and N sampled lhs against every rhs. */
  private trainingNegatives(b: Batch, random: () => number): Pairs {
    const N = this.data.in_batch_negatives;
    const lhsRow: number[] = [];
    const rhsRow: number[] = [];
    const relRow: number[] = [];
    for (const [r, members] of this.groups(b)) {
      const sample = (): number[] => {
        const p = permutation(members.length, random);
        return Array.from({ length: N }, (_, j) => members[p[j % members.length]]);
      };
      const rhsPick = sample();
      const lhsPick = sample();
      for (const i of members) {
        const add = (l: number, rh: number): void => {
          lhsRow.push(l);
          rhsRow.push(rh);
          relRow.push(r);
        };
        for (const s of rhsPick) add(i, s);
        for (const s of lhsPick) add(s, i);
      }
    }
    return { lhsRow: Int32Array.from(lhsRow), rhsRow: Int32Array.from(rhsRow), relRow: Int32Array.from(relRow) };
  }

  /**
   * One optimizer step on the edges `idx` (the global batch: every rank passes the same one and
   * trains on its slice); resolves to the loss (averaged over the ranks) once every table has updated.
   */
  async trainStep(edges: Edges, globalIdx: Int32Array, stepSeed: number): Promise<number> {
    const pg = this.sharding?.processGroup;
    const idx = pg ? rankSlice(globalIdx, pg.rank, pg.worldSize) : globalIdx;
    const { batch: b, kjt } = await this.forward(edges, idx);
    const negs = this.trainingNegatives(b, rng(pg ? stepSeed * 65_537 + pg.rank : stepSeed));
    const B = idx.length;
    const D = this.dim;
    const count = B + negs.lhsRow.length;
    const negWeight = negs.lhsRow.length > 0 ? B / negs.lhsRow.length : 0;
    const gL = new Float32Array(B * D);
    const gR = new Float32Array(B * D);
    const gT = new Float32Array(this.translation.length);
    let loss = 0;
    const accumulate = (a: number, c: number, r: number, y: number, w: number): void => {
      const z = this.score(b, a, c, r);
      loss += (w * bce(z, y)) / count;
      const dz = (w * (sigmoid(z) - y)) / count;
      for (let d = 0; d < D; d++) {
        const rh = b.rhs[c * D + d];
        gL[a * D + d] += dz * rh;
        gT[r * D + d] += dz * rh;
        gR[c * D + d] += dz * (b.lhs[a * D + d] + this.translation[r * D + d]);
      }
    };
    for (let i = 0; i < B; i++) accumulate(i, i, b.rel[i], 1, 1);
    for (let k = 0; k < negs.lhsRow.length; k++)
      accumulate(negs.lhsRow[k], negs.rhsRow[k], negs.relRow[k], 0, negWeight);

    // The pooled output is [2B][tables * D]; only the block of the row's table holds its id, and a
    // gradient on an empty bag's block reaches no row, so every block can carry the row's gradient.
    const T = this.config.embeddings.tables.length;
    const grad = new Float32Array(2 * B * T * D);
    for (let r = 0; r < 2 * B; r++) {
      const src = r % 2 === 0 ? gL : gR;
      for (let t = 0; t < T; t++) grad.set(src.subarray((r >> 1) * D, (r >> 1) * D + D), (r * T + t) * D);
    }
    await this.embeddings.backward(kjt, grad);
    if (pg) {
      // The loss and translation gradient above are this rank's slice mean; the step uses the global mean.
      const summed = await pg.allreduce(Float32Array.of(loss, ...gT));
      loss = summed[0] / pg.worldSize;
      for (let j = 0; j < gT.length; j++) gT[j] = summed[j + 1] / pg.worldSize;
    }

    const opt = this.config.translation_optimizer;
    const lr = opt.learning_rate ? computeLearningRate(opt.learning_rate, this.translationSteps) : (opt.sgd?.lr ?? 0);
    for (let j = 0; j < gT.length; j++) this.translation[j] -= lr * gT[j];
    this.translationSteps++;
    return loss;
  }

  /**
   * Link prediction on held-out edges: each positive against N rhs of other edges of its relation
   * in the batch (a fixed, deterministic choice). AUC over all pairs and MRR of the positive among
   * its N, overall and stratified by relation (discrete feature 0 = rel).
   */
  async evaluate(
    edges: Edges,
    batches: Int32Array[],
    negatives = this.data.in_batch_negatives,
    timeoutSeconds = Infinity,
  ): Promise<{ auc: Record<string, number>; mrr: Record<string, number> }> {
    const N = Math.max(1, negatives);
    const pos: number[] = [];
    const neg: number[] = [];
    const rel: number[] = [];
    // the-algorithm-ml's eval_timeout_in_s: evaluate on the batches that fit in the time budget.
    // Sharded: ranks must make the same forwards, and a time budget could end them at different batches.
    const deadline = this.sharding ? Infinity : Date.now() + timeoutSeconds * 1000;
    for (const idx of batches) {
      if (pos.length > 0 && Date.now() > deadline) break;
      const { batch: b } = await this.evalForward(edges, idx);
      for (const [r, members] of this.groups(b)) {
        if (members.length < 2) continue; // no in-batch negative exists
        members.forEach((i, p) => {
          pos.push(this.score(b, i, i, r));
          rel.push(r);
          for (let j = 0; j < N; j++)
            neg.push(this.score(b, i, members[(p + 1 + (j % (members.length - 1))) % members.length], r));
        });
      }
    }
    const strata = this.config.relations.map((r, i) =>
      Object.assign(new StratifierConfig({ name: r.name, index: 0, value: i })),
    );
    const discrete = (row: number): number => rel[row];
    return {
      auc: stratified(pos.length, discrete, strata, (rows) => {
        const negRows = rows.flatMap((row) => Array.from({ length: N }, (_, j) => row * N + j));
        const scores = [...pick(pos, rows), ...pick(neg, negRows)];
        return auc(scores, [...rows.map(() => 1), ...negRows.map(() => 0)]);
      }),
      mrr: stratified(pos.length, discrete, strata, (rows) =>
        mrr(
          pick(pos, rows),
          pick(
            neg,
            rows.flatMap((row) => Array.from({ length: N }, (_, j) => row * N + j)),
          ),
          N,
        ),
      ),
    };
  }

  // Evaluation on a sharded model: every rank scores the same batches (the forward is collective),
  // so every rank computes the same metrics.

  save(): unknown {
    return { translation: Array.from(this.translation), translationSteps: this.translationSteps };
  }

  restore(state: unknown): void {
    const s = state as { translation: number[]; translationSteps: number };
    this.translation.set(s.translation);
    this.translationSteps = s.translationSteps;
  }
}

/** Rank r's contiguous slice of a global batch (the first `B mod W` ranks take one more edge). */
export function rankSlice(idx: Int32Array, rank: number, worldSize: number): Int32Array {
  const base = Math.floor(idx.length / worldSize);
  const extra = idx.length % worldSize;
  const start = rank * base + Math.min(rank, extra);
  return idx.subarray(start, start + base + (rank < extra ? 1 : 0));
}
