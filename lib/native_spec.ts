/**
 * Validated config → the specs the native core reads (lib/native.ts): one place that knows how a
 * table, its optimizer and its learning-rate schedule cross into C++. Conversion only; every rule was
 * checked by lib/config, and the core re-checks what its memory safety and math depend on.
 */
import { EmbeddingBagConfig } from './config/embedding';
import { LearningRate } from './config/learning_rate';
import { EmbeddingOptimizerConfig, OptimizerConfig, optimizerAlgorithm } from './config/optimizer';
import { nativeManagedCollision } from './config/managed_collision';
import { PoolingType } from './enums';
import type { NativeOptimizerSpec, NativeSchedule, NativeTrainableTableSpec } from './native';

// FBGEMM's defaults for the fields an algorithm does not have (its rule never reads them).
const NOT_USED = { eps: 1e-8, beta1: 0.9, beta2: 0.999, weightDecay: 0, weightDecayMode: 'none' as const };

export function nativeSchedule(lr: LearningRate | undefined): NativeSchedule | null {
  if (lr === undefined) return null;
  if (lr.constant !== undefined) return { kind: 'constant', learningRate: lr.constant };
  if (lr.linear_ramp_to_constant !== undefined) {
    const c = lr.linear_ramp_to_constant;
    return { kind: 'linear_ramp_to_constant', learningRate: c.learning_rate, numRampSteps: c.num_ramp_steps };
  }
  if (lr.linear_ramp_to_cosine !== undefined) {
    const c = lr.linear_ramp_to_cosine;
    return {
      kind: 'linear_ramp_to_cosine',
      learningRate: c.learning_rate,
      finalLearningRate: c.final_learning_rate,
      numRampSteps: c.num_ramp_steps,
      finalNumSteps: c.final_num_steps,
    };
  }
  const p = lr.piecewise_constant!;
  return { kind: 'piecewise_constant', boundaries: p.learning_rate_boundaries, values: p.learning_rate_values };
}

export function nativeOptimizerSpec(cfg: OptimizerConfig): NativeOptimizerSpec {
  const algorithm = optimizerAlgorithm(cfg);
  const schedule = nativeSchedule(cfg.learning_rate);
  switch (algorithm) {
    case 'sgd':
      return { ...NOT_USED, algorithm, lr: cfg.sgd!.lr, schedule };
    case 'adagrad':
      return { ...NOT_USED, algorithm, lr: cfg.adagrad!.lr, schedule, eps: cfg.adagrad!.eps };
    case 'rowwise_adagrad': {
      const a = cfg.rowwise_adagrad!;
      return {
        ...NOT_USED,
        algorithm,
        lr: a.lr,
        schedule,
        eps: a.eps,
        weightDecay: a.weight_decay,
        weightDecayMode: a.weight_decay_mode,
      };
    }
    default: {
      // adam, partial_rowwise_adam and lamb share their fields.
      const a = cfg[algorithm]!;
      return {
        ...NOT_USED,
        algorithm,
        lr: a.lr,
        schedule,
        eps: a.eps,
        beta1: a.betas[0],
        beta2: a.betas[1],
        weightDecay: a.weight_decay,
      };
    }
  }
}

/**
 * A table's own optimizer wins; a table without one is trained by the collection's
 * EmbeddingOptimizerConfig, which is EXACT_SGD at init_learning_rate (or its schedule), as in
 * the-algorithm-ml. null: the table cannot be trained.
 */
export function tableOptimizerSpec(
  t: EmbeddingBagConfig,
  collection?: EmbeddingOptimizerConfig,
): NativeOptimizerSpec | null {
  if (t.optimizer !== undefined) return nativeOptimizerSpec(t.optimizer);
  if (collection === undefined) return null;
  return {
    ...NOT_USED,
    algorithm: 'sgd',
    lr: collection.init_learning_rate,
    schedule: nativeSchedule(collection.learning_rate),
  };
}

export function nativeTableSpec(
  t: EmbeddingBagConfig,
  collection?: EmbeddingOptimizerConfig,
): NativeTrainableTableSpec {
  return {
    name: t.name,
    numEmbeddings: t.num_embeddings,
    embeddingDim: t.embedding_dim,
    dataType: t.data_type,
    pooling: t.pooling ?? PoolingType.SUM,
    featureNames: t.feature_names && t.feature_names.length > 0 ? t.feature_names : [t.name],
    initMin: t.weight_init_min as number,
    initMax: t.weight_init_max as number,
    optimizer: tableOptimizerSpec(t, collection),
    ...(t.managed_collision ? { managedCollision: nativeManagedCollision(t.managed_collision) } : {}),
  };
}
