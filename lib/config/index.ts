/** Public surface of the config layer; the validation plumbing stays internal. */
export { ConfigError, type ConfigIssue } from './validate';
export {
  LearningRate,
  computeLearningRate,
  type LinearRampToConstant,
  type LinearRampToCosine,
  type PiecewiseConstant,
} from './learning_rate';
export {
  EmbeddingOptimizerConfig,
  OPTIMIZER_ALGORITHMS,
  OptimizerConfig,
  optimizerAlgorithm,
  type AdagradConfig,
  type AdamConfig,
  type LambConfig,
  type OptimizerAlgorithm,
  type PartialRowwiseAdamConfig,
  type RowwiseAdagradConfig,
  type SgdConfig,
  type WeightDecayMode,
} from './optimizer';
export { EmbeddingBagConfig, EmbeddingSnapshot, LargeEmbeddingsConfig } from './embedding';
export { SmallEmbeddingBagConfig, SmallEmbeddingsConfig, StratifierConfig } from './small_embedding';
export { loadConfig } from './load';
export { type EvictionPolicy, type ManagedCollisionConfig } from './managed_collision';
