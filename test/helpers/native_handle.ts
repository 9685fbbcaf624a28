/** The addon's collection without the TypeScript layer: for tests that the native core checks its inputs itself. */
import { native, NativeEmbeddingBagCollection } from '../../lib/native';

/** A native collection of one fp32 table `t` (4 rows, dim 2), read by feature `t`. */
export function oneTableHandle(): NativeEmbeddingBagCollection {
  return new (native().NativeEmbeddingBagCollection)({
    tables: [
      {
        name: 't',
        numEmbeddings: 4,
        embeddingDim: 2,
        dataType: 'fp32',
        pooling: 'SUM',
        featureNames: ['t'],
        initMin: 0,
        initMax: 1,
        optimizer: null,
      },
    ],
    isWeighted: false,
    seed: 1,
    device: 'cpu',
  });
}
