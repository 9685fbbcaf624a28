/**
 * A TwHIN config in the schema of the-algorithm-ml's projects/twhin/config/local.yaml, sized for a
 * generated graph: the demo writes it to YAML and loads it back, the tests build variants of it.
 */
export interface DemoSizes {
  users: number;
  tweets: number;
  relations: number;
  dim: number;
  batchSize: number;
  negatives: number;
  steps: number;
  lr: number;
}

export const RELATIONS = ['fav', 'reply', 'retweet', 'magic_recs'];

/**
 * The --managed-ids variant: tables take raw hashed 64-bit ids (data.ts rawEntityId) with only
 * `rowFraction` of the entities' rows, admitting and evicting ids as training goes.
 */
export interface ManagedVariant {
  rowFraction: number;
  evictionInterval: number;
}

export function demoConfig(
  dataDir: { train: string; validation: string },
  saveDir: string,
  s: DemoSizes,
  managed?: ManagedVariant,
): Record<string, unknown> {
  const rows = (n: number) => (managed ? Math.floor(n * managed.rowFraction) : n);
  const mc = managed
    ? { managed_collision: { eviction_policy: 'lfu', eviction_interval: managed.evictionInterval } }
    : {};
  // Row-wise Adagrad: the loss is a mean over B*(1 + 2N) logits, so raw gradients are tiny and plain
  // SGD would need a learning rate in the hundreds; Adagrad's normalization makes lr a step size.
  const optimizer = { rowwise_adagrad: { lr: s.lr }, learning_rate: { constant: s.lr } };
  return {
    runtime: { enable_amp: false },
    training: {
      save_dir: saveDir,
      num_train_steps: s.steps,
      checkpoint_every_n: Math.max(1, Math.floor(s.steps / 2)),
      checkpoint_max_to_keep: 2,
      train_log_every_n: Math.max(1, Math.floor(s.steps / 10)),
      num_eval_steps: 10,
      eval_log_every_n: Math.max(1, Math.floor(s.steps / 2)),
      eval_timeout_in_s: 600,
      num_epochs: 1,
    },
    model: {
      translation_optimizer: { sgd: { lr: 0.5 }, learning_rate: { constant: 0.5 } },
      embeddings: {
        tables: [
          { name: 'user', num_embeddings: rows(s.users), embedding_dim: s.dim, data_type: 'fp32', optimizer, ...mc },
          { name: 'tweet', num_embeddings: rows(s.tweets), embedding_dim: s.dim, data_type: 'fp32', optimizer, ...mc },
        ],
        tables_to_log: ['user', 'tweet'],
      },
      relations: RELATIONS.slice(0, s.relations).map((name) => ({
        name,
        lhs: 'user',
        rhs: 'tweet',
        operator: 'translation',
      })),
    },
    train_data: {
      data_root: `${dataDir.train}/*`,
      per_replica_batch_size: s.batchSize,
      global_negatives: 0,
      in_batch_negatives: s.negatives,
    },
    validation_data: {
      data_root: `${dataDir.validation}/*`,
      per_replica_batch_size: s.batchSize,
      global_negatives: 0,
      in_batch_negatives: s.negatives,
    },
  };
}
