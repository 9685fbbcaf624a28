/** torchrec-node: TorchRec's EmbeddingBagCollection and the-algorithm-ml's LargeEmbeddings for Node. */
export { DataType, Mode, PoolingType } from './enums';
export { TorchrecError } from './errors';
export type { ErrorCode } from './errors';
export * from './config';
export { KeyedJaggedTensor } from './kjt';
export type { KjtFromLengths, KjtFromOffsets, IdInput, WeightInput } from './kjt';
export { KeyedTensor } from './keyed_tensor';
export { EmbeddingBagCollection, TABLE_NORM_SAMPLE_ROWS } from './ebc';
export type { EmbeddingBagCollectionOptions, ManagedIdStats, TableNormsOptions } from './ebc';
export { LargeEmbeddings } from './large_embeddings';
export type { LargeEmbeddingsOptions } from './large_embeddings';
export { SmallEmbeddings } from './small_embeddings';
export type { DenseIds, SmallEmbeddingsOptions } from './small_embeddings';
export { setNumThreads, getNumThreads, buildInfo } from './runtime';
export type { SnapshotExtra, RestoredState, LoadStateDictOptions } from './checkpoint';
export * from './train';
export * from './distributed';
